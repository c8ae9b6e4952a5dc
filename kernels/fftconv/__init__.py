"""Causal long (FFT) convolution: full-length and partial filters, gating, streaming history.

``fftconv`` is the one entry point the model uses. The FlashFFTConv-style Triton kernels are not in yet,
so every device runs the torch.fft reference (cuFFT on CUDA, pocketfft on CPU), fp32 inside.
"""

from dnaconv.kernels.fftconv.naive import (
    fft_size,
    filter_spectrum,
    naive_conv_direct,
    naive_fftconv,
    next_fast_len,
)

__all__ = ["fftconv", "fft_size", "filter_spectrum", "naive_fftconv", "naive_conv_direct", "next_fast_len"]

# Which implementation runs on each device type (reported by `dnaconv info`).
IMPLEMENTATION = {"cpu": "naive (torch.fft)", "cuda": "naive (torch.fft / cuFFT)"}

fftconv = naive_fftconv
