"""Test helper: a profiler-like process that writes a deterministic sample sequence to a store.

Used by tests/test_store.py for the concurrent-writer and kill -9 tests, and imported there for
:func:`make_sample`. Prints one line per committed batch so the parent knows how far it got.

    python tests/store_writer.py PATH --start 0 --stop 500 --batch 5 [--skip-existing] [--delay S]
"""
from __future__ import annotations

import argparse
import sys
import time

from harness.store import ProfileStore, Sample

FINGERPRINT = {"device": "test-cpu", "cpu": "test model", "threads": 1, "backend": "cpu"}


def make_sample(k: int, latency_ms: float | None = None, kind: str = "primary",
                fingerprint: dict | None = None, backend: str = "cpu") -> Sample:
    """The k-th sample of the deterministic sequence (a distinct architecture per k)."""
    latency = 1.0 + (k % 97) / 10 if latency_ms is None else latency_ms
    genotype = f'{{"normal":[["sep_conv_3x3",{k % 2}]],"normal_concat":[2],"tag":{k}}}'
    return Sample(
        genotype_json=genotype,
        config={"C": 16, "layers": 8, "in_channels": 3, "resolution": 32, "batch": 1, "classes": 10},
        backend=backend, latency_ms=latency, median_ms=latency * 1.05, p90_ms=latency * 1.2,
        cv=0.03, rounds=5, reps=20, round_spread=0.02, noisy=k % 7 == 0,
        fingerprint=FINGERPRINT if fingerprint is None else fingerprint, kind=kind,
        extra={"round_minima": [latency, latency * 1.01]},
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--stop", type=int, required=True)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--skip-existing", action="store_true")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    with ProfileStore(args.path) as store:
        todo = list(range(args.start, args.stop))
        if args.skip_existing:
            done = store.primary_keys(backend="cpu")
            todo = [k for k in todo if make_sample(k).arch_key not in done]
        for i in range(0, len(todo), args.batch):
            added = store.add([make_sample(k) for k in todo[i:i + args.batch]])
            print(f"batch {i // args.batch} added {added}", flush=True)
            time.sleep(args.delay)
    print(f"done {len(todo)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
