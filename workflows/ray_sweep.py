"""A λ sweep on a Ray cluster: each unfinished (λ, seed) cell's search, retraining and measurement
as one Ray task, the rest of the sweep (re-timing all derived networks together, summaries) here.

A task runs the same cell (:class:`workflows.sweep.SweepCell`) as the local loop, with this process's
torch thread count (intra-op parallelism changes floating-point sums, so the count is part of what
makes the cells identical to a local sweep on the CPU) and as many Ray CPUs. Cells already finished
in the output directory are read back here without a task. A finished task's ``result.json`` is
written here too when the node that ran it has another disk, so the sweep resumes from this
machine's directory; an interrupted search resumes from its checkpoint only where the task runs
again on a node that sees it (one machine, or a shared file system).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch

from gnnlat.errors import GnnlatError
from harness.ray_cluster import connected

Cell = Callable[[float, int], dict[str, Any]]  # (λ, seed) -> the cell's row


def run_cell_task(cell: Cell, lam: float, seed: int, threads: int) -> dict[str, Any]:
    """The Ray task: one cell with the driver's torch thread count."""
    torch.set_num_threads(threads)
    return cell(lam, seed)


def run_cells_on_ray(address: str, cell: Cell, jobs: list[tuple[float, int]], run_dir: Callable[[float, int], Path],
                     progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Every cell's row, in ``jobs`` order: finished ones (a ``result.json`` in ``run_dir(λ, seed)``)
    read here, the others run as Ray tasks."""
    rows: list[dict[str, Any] | None] = [None] * len(jobs)
    for i, (lam, seed) in enumerate(jobs):
        if (run_dir(lam, seed) / "result.json").is_file():
            rows[i] = cell(lam, seed)  # read back (and checked against this sweep's settings)
    todo = [i for i, row in enumerate(rows) if row is None]
    threads = torch.get_num_threads()
    with connected(address) as ray:
        task = ray.remote(run_cell_task).options(num_cpus=threads, max_retries=1)
        cell_ref = ray.put(cell)
        refs = {task.remote(cell_ref, *jobs[i], threads): i for i in todo}
        try:
            while refs:
                if progress:
                    progress(len(jobs) - len(refs), len(jobs))
                ready, _ = ray.wait(list(refs), num_returns=1)
                i = refs.pop(ready[0])
                rows[i] = _result(ray, ready[0])
                _keep(rows[i], run_dir(*jobs[i]))
        finally:
            for ref in refs:
                ray.cancel(ref)
    return rows


def _result(ray, ref) -> dict[str, Any]:
    """A task's row; a bad-input error inside it comes out as itself (one line), not as Ray's traceback."""
    from ray.exceptions import RayTaskError

    try:
        return ray.get(ref)
    except RayTaskError as exc:
        if isinstance(exc.cause, GnnlatError):
            raise exc.cause from None
        raise


def _keep(row: dict[str, Any], run_dir: Path) -> None:
    """Write a finished cell's ``result.json`` here when the task's node wrote it elsewhere."""
    done = run_dir / "result.json"
    if not done.is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        done.write_text(json.dumps(row))
