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


def fingerprint(backend: str, threads: int, **extra: object) -> dict:
    """Everything that changes a latency: hardware, runtime versions, thread count, backend.

    The host name is left out on purpose: identical machines should share profiles.
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
        fp["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else None
        fp["cuda"] = torch.version.cuda
        fp["capability"] = list(torch.cuda.get_device_capability()) if torch.cuda.is_available() else None
    fp["device"] = fp.get("gpu") or fp["cpu_model"]
    fp.update(extra)
    return fp
