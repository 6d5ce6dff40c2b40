"""Does the cell matter on a dataset? The proxy-task table of docs/results.md.

    python benchmarks/proxy_report.py [--dataset cluttered] [--seeds 3] [--random 10] [--epochs 15]
                                      [--jobs 2] [--out runs/proxy.jsonl]

Retrains DARTS V2, ``all_skip`` and ``pools_only`` with every seed and ``--random`` random cells
(``sample_genotypes(0, N)``) with seed 0, each with the default retraining protocol on one thread,
``--jobs`` at a time. Every finished run is appended to ``--out`` and skipped when the report is run
again, so a cut-off report resumes. Prints the table and the proxy task's two targets: ``all_skip``
and ``pools_only`` at least 5 points below DARTS V2, and DARTS V2 at least 2 points above the mean
of the random cells.
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIXED = ("DARTS_V2", "all_skip", "pools_only")


def genotype_of(cell: str):
    from gnnlat.genotype import sample_genotypes
    from gnnlat.published import NAMED_CELLS

    if cell.startswith("random"):
        return sample_genotypes(0, int(cell[6:]) + 1)[-1]
    return NAMED_CELLS[cell]


def train_one(job: tuple[str, int, str, int]) -> dict:
    """One retraining on one thread (the jobs share the machine's cores)."""
    import torch

    from gnnlat.train import TrainConfig, train_network

    torch.set_num_threads(1)
    cell, seed, dataset, epochs = job
    out = train_network(genotype_of(cell), TrainConfig(dataset=dataset, epochs=epochs, seed=seed, device="cpu"))
    return {"cell": cell, "seed": seed, "dataset": dataset, "epochs": epochs, "test_acc": out["test_acc"],
            "val_acc": out["val_acc"], "train_time_s": out["train_time_s"]}


def report(rows: list[dict]) -> str:
    by_cell: dict[str, list[float]] = {}
    for r in rows:
        by_cell.setdefault(r["cell"], []).append(100 * r["test_acc"])
    lines = ["| cell | seeds | test accuracy (%) | mean ± std |", "|---|---:|---|---:|"]
    for cell, accs in by_cell.items():
        lines.append(f"| {cell} | {len(accs)} | {' / '.join(f'{a:.1f}' for a in accs)} | "
                     f"{np.mean(accs):.2f} ± {np.std(accs):.2f} |")
    v2 = np.mean(by_cell.get("DARTS_V2", [np.nan]))
    for cell in ("all_skip", "pools_only"):
        gap = v2 - np.mean(by_cell.get(cell, [np.nan]))
        lines.append(f"DARTS V2 − {cell}: {gap:.2f} points ({'meets' if gap >= 5 else 'misses'} ≥ 5)")
    randoms = [np.mean(a) for c, a in by_cell.items() if c.startswith("random")]
    if randoms:
        gap = v2 - np.mean(randoms)
        lines.append(f"DARTS V2 − mean of {len(randoms)} random cells ({np.mean(randoms):.2f}): {gap:.2f} points "
                     f"({'meets' if gap >= 2 else 'misses'} ≥ 2)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="cluttered")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--random", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="runs/proxy.jsonl")
    args = ap.parse_args()
    out = Path(args.out)
    done = [json.loads(line) for line in out.read_text().splitlines()] if out.is_file() else []
    have = {(r["cell"], r["seed"], r["dataset"], r["epochs"]) for r in done}
    jobs = [(c, s, args.dataset, args.epochs) for s in range(args.seeds) for c in FIXED]
    jobs += [(f"random{k}", 0, args.dataset, args.epochs) for k in range(args.random)]
    todo = [j for j in jobs if j not in have]
    out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(args.jobs) as pool, out.open("a") as fh:
        for row in pool.map(train_one, todo):
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            print(f"{row['cell']} seed {row['seed']}: {100 * row['test_acc']:.1f}%", file=sys.stderr)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    print(report([r for r in rows if (r["cell"], r["seed"], r["dataset"], r["epochs"]) in set(jobs)]))


if __name__ == "__main__":
    main()
