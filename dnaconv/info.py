"""`dnaconv info`: what this installation will run with."""

from __future__ import annotations

import platform

import torch

from dnaconv import __version__


def collect_info(model_path: str | None = None) -> dict:
    from dnaconv.checkpoint import load_model
    from dnaconv.kernels import available_implementations

    model, info = load_model(model_path)
    cfg = model.config
    devices = [{"type": "cpu", "threads": torch.get_num_threads()}]
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        devices.append({"type": f"cuda:{i}", "name": p.name, "memory_gib": round(p.total_memory / 2**30, 1)})
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    active = "cuda" if torch.cuda.is_available() else "cpu"
    return {
        "dnaconv": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "triton": triton_version,
        "model": {
            **info.to_dict(),
            "default": model_path is None,
            "d_model": cfg.d_model,
            "n_layer": cfg.n_layer,
            "filter_len": cfg.filter_len,
            "receptive_field": cfg.receptive_field,
            "flops_per_base": model.flops_per_base(),
        },
        "devices": devices,
        "default_device": active,
        "kernels": {op: impls[active] for op, impls in available_implementations().items()},
    }


def format_info(d: dict) -> str:
    m = d["model"]
    lines = [
        f"dnaconv {d['dnaconv']} (python {d['python']}, torch {d['torch']}, triton {d['triton'] or 'not installed'})",
        f"model:   {m['name']}{' (embedded default)' if m['default'] else ''}",
        f"         {m['path']}",
        f"         sha256 {m['sha256']}",
        f"         {m['num_parameters']:,} parameters, d_model {m['d_model']}, {m['n_layer']} layers, "
        f"filter length {m['filter_len']}, receptive field {m['receptive_field']:,} bp, "
        f"{m['flops_per_base'] / 1e6:.2f} MFLOP/base",
    ]
    for dev in d["devices"]:
        extra = (
            f"{dev['threads']} threads" if dev["type"] == "cpu" else f"{dev['name']}, {dev['memory_gib']} GiB"
        )
        lines.append(f"device:  {dev['type']} ({extra})")
    lines.append(
        f"kernels on {d['default_device']}: " + ", ".join(f"{k}={v}" for k, v in d["kernels"].items())
    )
    return "\n".join(lines)
