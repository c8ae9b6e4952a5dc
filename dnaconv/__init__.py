"""dnaconv: long-convolution DNA language models over whole genes and genomes."""

__version__ = "0.1.0"
