"""Device and software fingerprint recorded with every sample, so profiles never mix silently."""
from __future__ import annotations

import os
import platform
from importlib import metadata


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def fingerprint(backend: str, threads: int, gpu: dict | None = None, **extra: object) -> dict:
    """Everything that changes a latency: hardware, runtime versions, thread count, backend.

    ``gpu`` holds the GPU facts of the triton backend (``gpu``, ``cuda``, ``capability``), which the
    timer reads through its CUDA seam; this module makes no CUDA call. The host name is left out on
    purpose: identical machines should share profiles.
    """
    import torch

    fp: dict[str, object] = {
        "backend": backend,
        "threads": threads,
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.system(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": _version("numpy"),
    }
    if backend == "onnxruntime":
        fp["onnxruntime"] = _version("onnxruntime")
    if backend == "triton":
        fp["triton"] = _version("triton")
        fp.update(gpu or {"gpu": None, "cuda": torch.version.cuda, "capability": None})
    fp["device"] = fp.get("gpu") or fp["cpu_model"]
    fp.update(extra)
    return fp
