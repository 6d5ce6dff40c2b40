"""Resumable search state: one file per run, replaced atomically after every epoch.

It holds weights, α, both optimizers, the LR schedule, λ, LAT_ref, the RNG states (CPU, and CUDA
when the run is on a GPU), the history and the config, as plain tensors and containers so it loads
with ``weights_only=True``. A resume must use the same config except for paths and the device.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gnnlat.architect import Architect
from gnnlat.search_config import SearchConfig, SearchError
from gnnlat.supernet import Supernet

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_VERSION = 1
# Config fields that may change between an interrupted run and its resume (they don't alter numerics).
RESUME_FREE_FIELDS = frozenset({"out_dir", "data_dir", "device"})


def rng_state() -> dict[str, Any]:
    """Python/numpy/torch (and CUDA, when present) RNG states as tensors and plain values."""
    version, py_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, cfg: SearchConfig, epoch: int, model: Supernet, w_opt: torch.optim.Optimizer,
                    sched: torch.optim.lr_scheduler.LRScheduler, architect: Architect,
                    history: list[dict[str, Any]]) -> None:
    """Write the state after ``epoch`` epochs; a kill leaves the previous file intact."""
    state = {
        "version": CHECKPOINT_VERSION,
        "cfg": cfg.to_dict(),
        "epoch": epoch,
        "model": model.state_dict(),
        "w_optimizer": w_opt.state_dict(),
        "scheduler": sched.state_dict(),
        "architect": architect.state_dict(),
        "lam": architect.lam,
        "lat_ref": architect.lat_ref,
        "history": history,
        "rng": rng_state(),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, cfg: SearchConfig) -> dict[str, Any]:
    """The saved state (on the CPU) if it belongs to a run of ``cfg``; SearchError otherwise."""
    if not path.is_file():
        raise SearchError(f"cannot resume: no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign files raise many types
        raise SearchError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise SearchError(f"{path} is not a gnnlat search checkpoint (version {CHECKPOINT_VERSION})")
    saved, now = state["cfg"], cfg.to_dict()
    diff = sorted(k for k in set(saved) | set(now) if k not in RESUME_FREE_FIELDS and saved.get(k) != now.get(k))
    if diff:
        details = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {now.get(k)!r}" for k in diff)
        raise SearchError(f"cannot resume: config differs from the checkpoint's ({details})")
    return state


def restore(state: dict[str, Any], model: Supernet, w_opt: torch.optim.Optimizer,
            sched: torch.optim.lr_scheduler.LRScheduler, architect: Architect) -> None:
    """Load a saved state into a freshly built run (any device: tensors follow the model)."""
    model.load_state_dict(state["model"])
    w_opt.load_state_dict(state["w_optimizer"])
    sched.load_state_dict(state["scheduler"])
    architect.load_state_dict(state["architect"])
    set_rng_state(state["rng"])


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
