"""Depthwise causal short convolution (width 3-7) with history for streaming and a single-step form."""

from dnaconv.kernels.shortconv.naive import naive_shortconv, naive_shortconv_step

__all__ = ["shortconv", "shortconv_step", "naive_shortconv", "naive_shortconv_step"]

IMPLEMENTATION = {"cpu": "naive (conv1d)", "cuda": "naive (conv1d / cuDNN)"}

shortconv = naive_shortconv
shortconv_step = naive_shortconv_step
