"""Do separately built payloads of one network run at different speeds (a per-job component)?
8 genotypes x 3 builds (build_network draws fresh weights and input each time) x 2 sessions per build,
all in one rotation with the anchor for SECONDS. Label of a session: median over its rounds of
round-min / nearest anchor round-min. Compare sessions of one build (same payload) with builds."""
import sys, json, time, itertools; sys.path.insert(0, '.')
import numpy as np
from gnnlat.genotype import sample_genotypes
from gnnlat.network import NetworkConfig
from harness.profile import anchor_job
from harness.stream import make_payload, round_reps, runner
from harness.timers import make_timer
from harness.rounds import paired_ratios
SECONDS = float(sys.argv[1]); OUT = sys.argv[2]; FTZ = len(sys.argv) > 3
timer = make_timer("onnxruntime", threads=1)
config = NetworkConfig().to_dict()
nets = [(g.to_json(), config) for g in sample_genotypes(31, 8)]
fns = []
for n, spec in enumerate(nets):
    for b in range(3):
        payload = make_payload("onnxruntime", getattr(timer, "opset", 0), *spec)
        for s in range(2):
            fn = runner(timer, payload); fns.append((n, b, s, fn, round_reps(timer, fn)))
apayload = make_payload("onnxruntime", getattr(timer, "opset", 0), *anchor_job(NetworkConfig()))
afn = runner(timer, apayload); areps = round_reps(timer, afn)
rounds = {(n, b, s): [] for n, b, s, _, _ in fns}; anchor = []
t0 = time.perf_counter(); rng = np.random.default_rng(0); order = list(range(len(fns)))
with timer.pinned():
    while time.perf_counter() - t0 < SECONDS:
        rng.shuffle(order)
        for k, i in enumerate(order):
            if k % 8 == 0:
                anchor.append((time.perf_counter() - t0, min(timer.clock(afn, areps))))
            n, b, s, fn, reps = fns[i]
            rounds[(n, b, s)].append((time.perf_counter() - t0, min(timer.clock(fn, reps))))
lab = {key: float(np.median(paired_ratios(r, anchor))) for key, r in rounds.items()}
same_build = [abs(lab[(n, b, 0)] / lab[(n, b, 1)] - 1) for n in range(8) for b in range(3)]
builds = [abs(np.sqrt(lab[(n, a, 0)] * lab[(n, a, 1)]) / np.sqrt(lab[(n, c, 0)] * lab[(n, c, 1)]) - 1)
          for n in range(8) for a, c in itertools.combinations(range(3), 2)]
q = lambda x: "median %.2f%% p90 %.2f%% max %.2f%%" % tuple(100 * np.quantile(x, p) for p in (0.5, 0.9, 1.0))
print(f"rounds per session {len(rounds[(0, 0, 0)])}")
print("two sessions of one build:", q(same_build))
print("two builds (each the geomean of its two sessions):", q(builds))
for n in range(8):
    print(n, " | ".join(" ".join(f"{lab[(n, b, s)]:.4f}" for s in range(2)) for b in range(3)))
json.dump({"labels": {",".join(map(str, k)): v for k, v in lab.items()}}, open(OUT, "w"))
