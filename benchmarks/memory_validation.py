"""Check the allocator account of peak memory (harness.memory) against the operating system.

For each architecture a fresh worker process builds the network, runs it once, resets its
resident-set high-water mark (``/proc/self/clear_refs`` = 5), runs it again and reads how far
``VmHWM`` rose above the resident set before the run. glibc is told to serve every allocation of
64 kB or more with its own mmap (``MALLOC_MMAP_THRESHOLD_``) and to return it on free, so the
rise is the peak of the large live tensors, rounded to pages; the profiler's activation peak is
printed beside it. Only meaningful for networks whose activations are well above a page or two.

    python benchmarks/memory_validation.py [--n 8] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys

CONFIGS = [dict(C=16, layers=8, resolution=32, batch=1), dict(C=32, layers=8, resolution=48, batch=4),
           dict(C=24, layers=11, resolution=40, batch=8)]

WORKER = r"""
import json, sys, torch
torch.set_num_threads(1)
from gnnlat.genotype import Genotype
from gnnlat.network import Network, NetworkConfig
from harness.memory import host_peak_memory
g, c = Genotype.from_json(sys.argv[1]), NetworkConfig(**json.loads(sys.argv[2]))
net = Network(g, c).eval(); x = net.example_input()
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
with torch.inference_mode():
    net(x); net(x)
    open("/proc/self/clear_refs", "w").write("5")
    before = status("VmRSS")
    net(x)
    rise = status("VmHWM") - before
print(json.dumps({"os_rise": rise, "profiler_activation_peak": host_peak_memory(Network(g, c)).activation_peak_bytes}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from gnnlat.genotype import random_genotype

    rng = random.Random(args.seed)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0", "KINETO_LOG_LEVEL": "5"}
    for cfg in CONFIGS:
        full = {**cfg, "in_channels": 3, "classes": 10}
        for _ in range(args.n):
            g = random_genotype(rng)
            out = subprocess.run([sys.executable, "-c", WORKER, g.to_json(), json.dumps(full)], env=env,
                                 capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            r = json.loads(out)
            ratio = r["os_rise"] / r["profiler_activation_peak"]
            print(json.dumps({**cfg, **r, "ratio": round(ratio, 4)}))


if __name__ == "__main__":
    main()
