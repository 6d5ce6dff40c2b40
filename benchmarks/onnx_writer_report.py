"""Does the written ONNX graph time like the traced one? The ONNX-writer table of docs/results.md.

    python benchmarks/onnx_writer_report.py [--n 30] [--seed 0] [--rounds 12] [--runs 15] [--threads 1]

Every profile labelled before ``gnnlat.onnx_graph`` was timed on ``torch.onnx.export``'s graph, so
the written graph may replace it only if ONNX Runtime runs the two alike. For ``--n`` random
architectures (half at the fixed config, half from the ``--vary-config`` ranges) both graphs get
a session with the harness's options; then ``--rounds`` rounds each time every network's two
sessions back to back (``--runs`` inferences, order alternating), so load bursts hit both alike.
A network's latency is its minimum over rounds. Prints the time each way takes to produce the
bytes, the largest output difference, and the written/traced latency ratio (median, p10, p90).
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    from gnnlat.export import onnx_bytes, traced_onnx_bytes
    from gnnlat.genotype import random_genotype
    from gnnlat.network import Network, NetworkConfig
    from harness.profile import vary_config
    from harness.timers import OnnxRuntimeTimer, optimized_model

    torch.set_num_threads(args.threads)
    timer = OnnxRuntimeTimer(args.threads)
    rng = random.Random(args.seed)
    nets, prep = [], {"traced": [], "written": []}
    for i in range(args.n):
        genotype = random_genotype(rng)
        config = vary_config(rng, NetworkConfig()) if i % 2 else NetworkConfig()
        net = Network(genotype, config).eval()
        pair = {}
        for kind, fn in (("traced", traced_onnx_bytes), ("written", onnx_bytes)):
            t0 = time.perf_counter()
            data = fn(net)
            prep[kind].append(time.perf_counter() - t0)
            pair[kind] = timer.session_from_bytes(optimized_model(data))
        x = net.example_input().numpy()
        outs = [pair[k].run(None, {"input": x})[0] for k in ("traced", "written")]
        nets.append((pair, {"input": x}, float(np.max(np.abs(outs[0] - outs[1])))))

    best = np.full((args.n, 2), np.inf)
    for r in range(args.rounds):
        for i, (pair, feed, _) in enumerate(nets):
            order = ("traced", "written") if (r + i) % 2 else ("written", "traced")
            for kind in order:
                sess, col = pair[kind], ("traced", "written").index(kind)
                sess.run(None, feed)  # warm
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    sess.run(None, feed)
                    best[i, col] = min(best[i, col], time.perf_counter() - t0)
    ratio = best[:, 1] / best[:, 0]
    print(f"{args.n} networks, {args.rounds} rounds x {args.runs} runs, onnxruntime {args.threads} thread(s)")
    for kind in ("traced", "written"):
        ms = 1e3 * np.array(prep[kind])
        print(f"  bytes {kind:8s} median {np.median(ms):7.1f} ms  p90 {np.percentile(ms, 90):7.1f} ms")
    print(f"  max |output difference| {max(d for *_, d in nets):.2e}")
    print(f"  latency traced median {1e3 * np.median(best[:, 0]):.3f} ms")
    print(f"  written/traced latency ratio: median {np.median(ratio):.4f}, p10 {np.percentile(ratio, 10):.4f}, "
          f"p90 {np.percentile(ratio, 90):.4f}, min {ratio.min():.4f}, max {ratio.max():.4f}")


if __name__ == "__main__":
    main()
