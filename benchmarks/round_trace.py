"""Record every round of a rotation on this machine, then score agreement rules on the recording.

    python benchmarks/round_trace.py record --seconds 600 --out trace.json [--backend onnxruntime]
    python benchmarks/round_trace.py score trace.json [--tree DIR] [--agree-tol 0.03] [--runs-per-round K] [--json FILE]

``record`` builds 40 random fixed-config networks and the anchor, then rotates them 8 at a time
with the anchor, as the profiling scheduler does, in segments of ``--segment-s`` (each a "timing"
of those 8; longer than the 9 × 0.6 s bound, so no rule is cut short), cycling through the 40 for
``--seconds``: every network is timed about once every 30 s, in whatever mood the machine is in. Every run of every round is kept, with its start time.
All 41 sessions stay open for the whole recording and none is released, so the first-flight bias
the profiler's ballast removes (sessions opened where released ones were) does not arise here.

``score`` replays the recording through ``harness.rounds.verdict`` rotation by rotation, as the
scheduler would have called it, and reports the rounds and timed ms a network needed, the share
flagged noisy, and how well one network's labels (its ratio to the anchor) from different segments
agree: median, p90 and p95 of the pairwise relative differences. Because every rule sees the same
rounds, rules compare without the machine's mood in between. ``--tree`` scores the rule of another
checkout (for example a worktree of an older commit).
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gnnlat.genotype import sample_genotypes  # noqa: E402
from gnnlat.network import NetworkConfig  # noqa: E402
from harness.profile import anchor_job  # noqa: E402
from harness.stream import make_payload, round_reps, runner  # noqa: E402
from harness.timers import make_timer  # noqa: E402

NETWORKS, SLOTS = 40, 8


def record(seconds: float, backend: str, seed: int, segment_s: float = 6.0) -> dict:
    timer = make_timer(backend, threads=1)
    config = NetworkConfig().to_dict()
    specs = [(g.to_json(), config) for g in sample_genotypes(seed, NETWORKS)] + [anchor_job(NetworkConfig())]
    fns = []
    for spec in specs:
        fn = runner(timer, make_payload(backend, getattr(timer, "opset", 0), *spec))
        fns.append((fn, round_reps(timer, fn)))
    anchor = len(specs) - 1
    rounds: list[list] = [[] for _ in specs]
    segments, t_start = [], time.perf_counter()
    while time.perf_counter() - t_start < seconds:
        group = [(len(segments) % (NETWORKS // SLOTS)) * SLOTS + i for i in range(SLOTS)]
        s0, rotation = time.perf_counter() - t_start, 0
        while time.perf_counter() - t_start - s0 < segment_s:
            order = group + [anchor]
            k = rotation % len(order)
            for i in order[k:] + order[:k]:
                fn, reps = fns[i]
                rounds[i].append((time.perf_counter() - t_start, timer.clock(fn, reps)))
            rotation += 1
        segments.append((group, s0, time.perf_counter() - t_start))
    return {"backend": backend, "seed": seed, "fingerprint": timer.fingerprint(), "rounds": rounds,
            "segments": segments, "reps": [r for _, r in fns]}


def load_rounds_module(tree: str | None):
    if tree is None:
        from harness import rounds
        return rounds
    spec = importlib.util.spec_from_file_location("other_rounds", Path(tree) / "harness" / "rounds.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def score(trace: dict, rounds_module, agree_tol: float | None, runs_per_round: int | None = None) -> dict:
    """Replay each segment's networks through the module's verdict, one call per round.
    ``runs_per_round`` keeps only each round's first runs (the anchor's too): what rounds of that
    many runs would have read, at the recording's round times."""
    cfg = rounds_module.ScheduleConfig(**({"agree_tol": agree_tol} if agree_tol else {}))
    takes_quiet = "quiet_ms" in inspect.signature(rounds_module.verdict).parameters  # the rule before 2026-11-28
    rounds = [[(t, r[:runs_per_round]) for t, r in net] for net in trace["rounds"]]
    anchor_all = [(t, min(r)) for t, r in rounds[-1]]
    labels: dict[int, list[float]] = {}
    used, timed, flagged = [], [], 0
    for group, s0, s1 in trace["segments"]:
        for i in group:
            own = [(t, r) for t, r in rounds[i] if s0 <= t < s1]
            minima = [(t, min(r)) for t, r in own]
            if len(minima) < 3:
                continue
            for k in range(1, len(minima) + 1):
                now = minima[k - 1][0]
                anchor = [a for a in anchor_all if s0 - 0.5 <= a[0] <= now + 0.3]
                if not anchor:
                    continue
                quiet = ((min(m for t, m in anchor_all if t <= now + 0.3) * (1 + cfg.quiet_tol),)
                         if takes_quiet and cfg.quiet_tol is not None else ())
                v = rounds_module.verdict(minima[:k], cfg, anchor, *quiet)
                if v.done:
                    break
            if takes_quiet and v.ratio is None:  # the old rule's fall-back once its span ran out
                v = rounds_module.verdict(minima[:k], cfg, anchor, None)
            flagged += not v.agreed
            used.append(k)
            timed.append(sum(sum(r) for _, r in own[:k]))
            labels.setdefault(i, []).append(v.ratio)
    diffs = [abs(a / b - 1) for ls in labels.values() for a, b in itertools.combinations(ls, 2)]
    return {"timings": len(used), "rounds_mean": float(np.mean(used)), "timed_ms_mean": float(np.mean(timed)),
            "flagged": flagged / len(used), "pair_diff_median": float(np.median(diffs)),
            "pair_diff_p90": float(np.quantile(diffs, 0.9)), "pair_diff_p95": float(np.quantile(diffs, 0.95))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--seconds", type=float, default=600.0)
    rec.add_argument("--out", required=True)
    rec.add_argument("--backend", default="onnxruntime", choices=["onnxruntime", "cpu"])
    rec.add_argument("--seed", type=int, default=7)
    rec.add_argument("--segment-s", type=float, default=6.0, help="seconds per timing: longer than a rule's bound")
    sc = sub.add_parser("score")
    sc.add_argument("trace")
    sc.add_argument("--tree", default=None, help="score the rule of this checkout instead")
    sc.add_argument("--agree-tol", type=float, default=None)
    sc.add_argument("--json", default=None)
    sc.add_argument("--runs-per-round", type=int, default=None, help="keep only each round's first runs")
    args = ap.parse_args()
    if args.command == "record":
        trace = record(args.seconds, args.backend, args.seed, args.segment_s)
        Path(args.out).write_text(json.dumps(trace))
        print(f"{len(trace['segments'])} segments, {len(trace['rounds'][-1])} anchor rounds -> {args.out}")
        return
    result = score(json.loads(Path(args.trace).read_text()), load_rounds_module(args.tree), args.agree_tol,
                   args.runs_per_round)
    print(" ".join(f"{k} {v:.4g}" for k, v in result.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
