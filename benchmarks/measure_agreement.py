"""Does `measure` hold on a busy machine? Three passes of `cli.py measure`, minutes apart, each
followed by an independent timer; the check of docs/results.md § "The harness on a noisy machine".

    python benchmarks/measure_agreement.py [--cells DARTS_V1,all_sep_conv_5x5] [--passes 3] [--gap 90]

Each pass runs ``python cli.py measure CELL --backend onnxruntime --json`` for every cell, one
process per call as a user would. The independent timer shares no code with the harness's timing:
it exports every cell with ``torch.onnx.export`` (the traced graph, not the harness's writer), opens
its own ONNX Runtime sessions (1 thread) and interleaves the cells in ``--rounds`` rounds of
``--runs`` runs each, together with the anchor (DARTS V2), timing every run on its own. It
reports each cell's fastest run (the statistic `measure` reports: the minimum over its runs), its
fastest round mean (what a timer without the harness's statistic would say), and its fastest run
relative to the anchor's, times the reference anchor latency `measure` used (the timer's own
anchored figure, comparable with `measure`'s ``anchored_ms``). Prints two Markdown tables (raw and
anchored) and the issue's two verdicts for each: the passes within 5% of each other, and each
within 6% of the timer.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import onnxruntime as ort  # noqa: E402

from gnnlat.export import traced_onnx_bytes  # noqa: E402
from gnnlat.network import Network, NetworkConfig  # noqa: E402
from gnnlat.published import load_genotype_or_name  # noqa: E402


def measure(cell: str) -> dict:
    """One `measure` call in its own process: its JSON (``latency_ms``, ``agreement``, ...)."""
    out = subprocess.run([sys.executable, str(ROOT / "cli.py"), "measure", cell, "--backend", "onnxruntime",
                          "--json", "--no-speed-check"], cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    return {k: result.get(k) for k in ("latency_ms", "anchored_ms", "anchor_reference_ms", "agreement", "span_s",
                                       "anchor_ms", "rounds", "noisy")}


ANCHOR = "DARTS_V2"


def sessions(cells: list[str]) -> dict[str, tuple]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    out = {}
    for cell in dict.fromkeys([*cells, ANCHOR]):
        net = Network(load_genotype_or_name(cell), NetworkConfig()).eval()
        sess = ort.InferenceSession(traced_onnx_bytes(net), opts, providers=["CPUExecutionProvider"])
        out[cell] = (sess, {sess.get_inputs()[0].name: net.example_input().numpy()})
    return out


def independent(timed: dict[str, tuple], rounds: int, runs: int) -> dict[str, dict]:
    """Each cell's fastest run and fastest round mean (ms) over ``rounds`` interleaved rounds of
    ``runs`` runs."""
    times: dict[str, list[list[float]]] = {cell: [] for cell in timed}
    for sess, feed in timed.values():  # warm-up
        sess.run(None, feed)
    for _ in range(rounds):
        for cell, (sess, feed) in timed.items():
            one = []
            for _ in range(runs):
                t0 = time.perf_counter()
                sess.run(None, feed)
                one.append(1e3 * (time.perf_counter() - t0))
            times[cell].append(one)
    return {cell: {"fastest_run": min(map(min, rs)), "fastest_round_mean": min(sum(r) / len(r) for r in rs)}
            for cell, rs in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default="DARTS_V1,all_sep_conv_5x5")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--gap", type=float, default=90.0, help="seconds between passes")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--json", default=None, help="write the raw figures here too")
    args = ap.parse_args()
    cells = args.cells.split(",")
    timed = sessions(cells)
    passes = []
    for k in range(args.passes):
        if k:
            time.sleep(args.gap)
        started = time.strftime("%H:%M:%S", time.gmtime())
        measured = {c: measure(c) for c in cells}
        timer = independent(timed, args.rounds, args.runs)
        for c in cells:
            reference = measured[c]["anchor_reference_ms"]
            timer[c]["anchored"] = (timer[c]["fastest_run"] / timer[ANCHOR]["fastest_run"] * reference
                                    if reference else None)
        passes.append({"utc": started, "measure": measured, "independent": timer})
        print(f"pass {k + 1} at {started} UTC done", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(passes, indent=1))
    print(report(cells, passes))


def report(cells: list[str], passes: list[dict]) -> str:
    """Raw and anchored tables, then the verdicts of both."""
    raw, raw_verdicts = _table(cells, passes, "latency_ms", "fastest_run", "raw")
    out = [raw]
    verdicts = raw_verdicts
    if all(p["measure"][c].get("anchored_ms") for p in passes for c in cells):
        anchored, anchored_verdicts = _table(cells, passes, "anchored_ms", "anchored", "anchored")
        out.append(anchored)
        verdicts = verdicts + anchored_verdicts
    return "\n\n".join(out + ["\n".join(verdicts)])


def _table(cells: list[str], passes: list[dict], measured_key: str, timer_key: str, kind: str) -> tuple[str, list[str]]:
    lines = [f"| cell ({kind}) | measure (ms) | spread | independent timer (ms) | measure / timer |",
             "|---|---|---:|---|---|"]
    verdicts = []
    for cell in cells:
        m = [p["measure"][cell][measured_key] for p in passes]
        t = [p["independent"][cell][timer_key] for p in passes]
        spread = max(m) / min(m) - 1
        ratios = [a / b - 1 for a, b in zip(m, t)]
        lines.append(f"| {cell} | {', '.join(f'{x:.3f}' for x in m)} | {spread:.1%} | "
                     f"{', '.join(f'{x:.3f}' for x in t)} | {', '.join(f'{r:+.1%}' for r in ratios)} |")
        within = sum(abs(r) <= 0.06 for r in ratios)
        verdicts.append(f"{cell} ({kind}): passes {'within' if spread <= 0.05 else 'NOT within'} 5% of each other; "
                        f"{within} of {len(ratios)} within 6% of the independent timer")
    return "\n".join(lines), verdicts


if __name__ == "__main__":
    main()
