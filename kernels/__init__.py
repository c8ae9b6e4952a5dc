"""GPU-oriented tensor ops for dnaconv, one folder per op.

Each op folder holds ``naive.py`` (the fp32 PyTorch reference, which is also the CPU implementation) and,
where one exists, a Triton implementation; the folder's ``__init__`` picks the implementation.
``available_implementations()`` reports the choice for ``dnaconv info``.
"""

from dnaconv.kernels.fftconv import IMPLEMENTATION as _FFTCONV_IMPL
from dnaconv.kernels.shortconv import IMPLEMENTATION as _SHORTCONV_IMPL

__all__ = ["available_implementations"]


def available_implementations() -> dict[str, dict[str, str]]:
    """Which implementation each op uses, per device type."""
    return {"fftconv": dict(_FFTCONV_IMPL), "shortconv": dict(_SHORTCONV_IMPL)}
