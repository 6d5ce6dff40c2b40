"""The transplant table of docs/results.md: every source → target pair of the profiled devices.

    python benchmarks/transplant_report.py [--n 5,10,20,50,100] [--json FILE]

A device is ``name=PROFILE[:PREDICTOR]``: its profile is the target's held-out data, and its
predictor the base when it is the source (a shipped name or a file; without one, a predictor is
trained on the whole profile). Defaults: ONNX Runtime and eager PyTorch at 1 thread (the shipped
reference profiles and predictors) and at 2 threads (profiles/*-2threads.db). Prints one Markdown
table (held-out fixed config, then held-out configs) and the targets' pass/fail lines.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gnnlat.calibration import CHOICES, CalibrationConfig  # noqa: E402
from gnnlat.checkpoint import load_predictor  # noqa: E402
from gnnlat.fit import PredictorConfig, fit_predictor  # noqa: E402
from gnnlat.shipped import predictor_path  # noqa: E402
from gnnlat.transplant import TargetSplit, transplant_rows  # noqa: E402
from workflows.records import load_records  # noqa: E402

DEVICES = ["ort1=profiles/onnxruntime-reference.db:onnxruntime-reference",
           "cpu1=profiles/cpu-reference.db:cpu-reference",
           "ort2=profiles/onnxruntime-2threads-shared.db", "cpu2=profiles/cpu-2threads.db"]


def load_device(spec: str):
    name, _, rest = spec.partition("=")
    profile, _, predictor = rest.partition(":")
    records = load_records(ROOT / profile)
    base = (load_predictor(predictor_path(predictor)) if predictor
            else fit_predictor(records, PredictorConfig(max_train=None)))
    return name, records, base


def table(results: list[dict]) -> str:
    head = ("| source → target | N | method | fixed MAPE | ±10% | ρ | τ | held-out configs MAPE | ±10% | ρ | τ |\n"
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in results:
        cells = [f"{r['source']} → {r['target']}", str(r["n"]), r["method"]]
        for part in ("fixed", "configs"):
            s = r[part]
            cells += [f"{s['mape']:.1%}", f"{s['within_10']:.0%}", f"{s['spearman_rho']:.3f}", f"{s['kendall_tau']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(results: list[dict]) -> list[str]:
    """The issue's targets, per pair, for the calibrated predictor."""
    out = []
    for r in results:
        if r["method"] != "calibrated":
            continue
        pair = f"{r['source']} → {r['target']}"
        if r["n"] == 10:
            rho = min(r["fixed"]["spearman_rho"], r["configs"]["spearman_rho"])
            out.append(f"{pair} N=10: min ρ {rho:.3f} ({'meets' if rho >= 0.95 else 'misses'} ≥ 0.95)")
        if r["n"] == 50:
            c = r["configs"]
            ok = c["mape"] <= 0.05 and c["within_10"] >= 0.95
            out.append(f"{pair} N=50 held-out configs: MAPE {c['mape']:.1%}, ±10% {c['within_10']:.0%} "
                       f"({'meets' if ok else 'misses'} ≤ 5% and ≥ 95%)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", action="append", default=None, help="name=PROFILE[:PREDICTOR] (repeatable)")
    ap.add_argument("--n", default="5,10,20,50,100")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the rows here too")
    ap.add_argument("--choice", default="spread", choices=sorted(CHOICES), help="how the N are picked")
    ap.add_argument("--lr", type=float, default=CalibrationConfig.lr, help="fine-tuning learning rate")
    args = ap.parse_args()
    ns = [int(x) for x in args.n.split(",")]
    devices = [load_device(d) for d in args.device or DEVICES]
    results = []
    for source, _, base in devices:
        for target, records, _ in devices:
            if source == target:
                continue
            t0 = time.perf_counter()
            split = TargetSplit.of(records, args.seed)
            for row in transplant_rows(base, split, ns, args.seed, calibration=CalibrationConfig(lr=args.lr),
                                       choice=args.choice):
                results.append({"source": source, "target": target, **row})
            print(f"{source} → {target}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(table(results))
    print("\n" + "\n".join(verdicts(results)))


if __name__ == "__main__":
    main()
