"""Depthwise causal short convolution (width 3-7) with history for streaming and a single-step form."""

from dnaconv.kernels.shortconv.naive import naive_shortconv, naive_shortconv_step

__all__ = ["shortconv", "shortconv_step", "naive_shortconv", "naive_shortconv_step"]

IMPLEMENTATION = {"cpu": "naive (shifted multiply-adds)", "cuda": "naive (shifted multiply-adds)"}

shortconv = naive_shortconv
shortconv_step = naive_shortconv_step
