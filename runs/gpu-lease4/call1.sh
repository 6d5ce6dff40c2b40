set -u
export PYTHONUNBUFFERED=1
date -u; nvidia-smi -L; nproc; lscpu | grep "Model name"
python3 -m pip install -q --no-deps --no-build-isolation -e . && echo installed
git log --oneline -1 2>/dev/null
timeout 120 python3 benchmarks/gpu_host_costs.py --n 32 --json $OUT/host-fixed.json > $OUT/host-fixed.log 2>&1; echo "host-fixed rc $?"
timeout 120 python3 benchmarks/gpu_host_costs.py --n 24 --vary --json $OUT/host-vary.json > $OUT/host-vary.log 2>&1; echo "host-vary rc $?"
cp profiles/triton-reference.db /tmp/p.db
t0=$SECONDS; timeout -s INT -k 10 95 python3 cli.py profile --backend triton --out /tmp/p.db --json --n 3000 --time-limit 60 --seed 0 > $OUT/profile-head-w4.json 2> $OUT/profile-head-w4.err; echo "head w4 rc $? $((SECONDS-t0))s"
t0=$SECONDS; timeout -s INT -k 10 80 python3 cli.py profile --backend triton --out /tmp/p.db --json --n 3000 --time-limit 45 --seed 0 --workers 8 > $OUT/profile-head-w8.json 2> $OUT/profile-head-w8.err; echo "head w8 rc $? $((SECONDS-t0))s"
python3 - <<'PY'
import json, os
for f in ("host-fixed.json", "host-vary.json"):
    try:
        d = json.load(open(os.path.join(os.environ["OUT"], f)))
    except Exception as e:
        print(f, "missing", e); continue
    print(f, d.get("sections"), "cold failures", len(d.get("cold_capture_failures", [])))
    for k, v in d.get("stats", {}).items():
        print(f"  {k:28s} med {v['median']:8.3f} min {v['min']:8.3f} max {v['max']:8.3f} n {v['n']}")
for f in ("profile-head-w4.json", "profile-head-w8.json"):
    try:
        d = json.load(open(os.path.join(os.environ["OUT"], f)))
    except Exception as e:
        print(f, "missing", e); continue
    print(f, round(d["archs_per_hour"]), d.get("build_workers"), {k: round(v, 1) for k, v in d["time_per_arch_ms"].items()}, d.get("live_noise_floor"))
PY
