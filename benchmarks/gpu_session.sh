#!/usr/bin/env bash
# One session on a lent GPU machine: a triton reference profile (the search config, then
# --vary-config, each filled up to 1,000 architectures of this device), energy per inference of
# the fixed part's architectures (NVML), one `measure` (latency, peak memory, energy), the GPU
# tests and a one-epoch search smoke test. Every step runs even when an earlier one failed; the
# last lines printed are a summary table.
#
#   OUT=/path/to/out bash benchmarks/gpu_session.sh [FIXED_S [VARY_S]]
#
# Budgets (seconds; arguments win over the environment): FIXED_S (200) and VARY_S (150) for the two
# profiling runs, ENERGY_S (120) for the energy run, TESTS_S (110) for the GPU tests, SEARCH_S (45)
# for the search smoke test, CALIBRATE_S (75) for `calibrate --n 50` from the shipped ONNX Runtime
# predictor, INFO_S (30) and MEASURE_S (40), and TOTAL_S (520) for the whole script: a step that
# would overrun it, with the time of the later steps that are not skipped kept back, gets a shorter
# budget. A profiling run stops at its budget less 20 s (--time-limit) and reports its rate and
# time per architecture; SIGINT at the budget is only a backstop. PART_N (1000) is how
# many architectures each part should hold for this device; ENERGY_WINDOW_S (0.25) is the energy
# run's window per architecture. TEST_FILES picks the GPU test files (all three); SKIP names steps
# to leave out ("measure search-smoke"). PYTHON (python3) picks the interpreter; SKIP_INSTALL=1
# skips the editable install (dry runs). PROFILE_ARGS goes to both profiling runs ("--workers 12").
# Files written to $OUT (8 at most): session.log, gpu-tests.log, profile-fixed.json,
# profile-vary.json, energy.json, triton-reference.db, measure.json, search.json (info is printed,
# and can be had again from the profile).
set -u
export PYTHONUNBUFFERED=1

OUT=${OUT:?set OUT to the folder whose files come back}
FIXED_S=${1:-${FIXED_S:-200}}
VARY_S=${2:-${VARY_S:-150}}
TESTS_S=${TESTS_S:-110}
SEARCH_S=${SEARCH_S:-45}
ENERGY_S=${ENERGY_S:-120}
CALIBRATE_S=${CALIBRATE_S:-75}
INFO_S=${INFO_S:-30}
MEASURE_S=${MEASURE_S:-40}
PROFILE_ARGS=${PROFILE_ARGS:-}
ENERGY_WINDOW_S=${ENERGY_WINDOW_S:-0.25}
TOTAL_S=${TOTAL_S:-520}
PART_N=${PART_N:-1000}
TEST_FILES=${TEST_FILES:-tests/test_gpu.py tests/test_timers.py tests/test_devices.py}
SKIP=" ${SKIP:-} "
PY=${PYTHON:-python3}
ROWS=()

mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 2
DB="$OUT/triton-reference.db"
SCRATCH=$(mktemp -d)  # what is printed but need not come back
cd "$(dirname "$0")/.." || exit 2
# Continue the committed reference profile (resumable: a device already in it goes on where it
# stopped, another device starts its own samples in the same file).
[ -f "$DB" ] || [ ! -f profiles/triton-reference.db ] || cp profiles/triton-reference.db "$DB"

# step NAME BUDGET_S STDOUT_FILE CMD...: run CMD under a budget (SIGINT, then SIGKILL 20 s later),
# stdout to STDOUT_FILE ("-": the log), and remember (name, exit status, seconds) for the summary.
step() {
    local name=$1 budget=$2 dest=$3
    shift 3
    if [[ "$SKIP" == *" $name "* ]]; then
        echo "== $name: skipped (SKIP)"
        return 0
    fi
    echo "== $name (budget ${budget}s): $*"
    local t0=$SECONDS rc
    if [ "$dest" = "-" ]; then
        timeout -s INT -k 20 "$budget" "$@"
    else
        timeout -s INT -k 20 "$budget" "$@" > "$dest"
    fi
    rc=$?
    local took=$((SECONDS - t0))
    [ $rc -eq 124 ] && echo "-- $name reached its ${budget}s budget"
    echo "-- $name: exit $rc after ${took}s"
    ROWS+=("$name|$rc|$took")
    return $rc
}

# reserve STEP...: the seconds the named later steps need, skipped ones left out (a skipped step
# reserving its time once left a profiling run 18 s).
reserve() {
    local total=0 name s
    for name in "$@"; do
        [[ "$SKIP" == *" $name "* ]] && continue
        case $name in
            profile-vary) s=$VARY_S ;; energy) s=$ENERGY_S ;; info) s=$INFO_S ;; measure) s=$MEASURE_S ;;
            calibrate) s=$CALIBRATE_S ;; gpu-tests) s=$TESTS_S ;; search-smoke) s=$SEARCH_S ;; *) s=0 ;;
        esac
        total=$((total + s))
    done
    echo "$total"
}

# capped WANT RESERVE: WANT seconds, or less so that RESERVE seconds of TOTAL_S stay for later
# steps (10 at least).
capped() {
    local left=$((TOTAL_S - SECONDS - $2))
    local s=$(( $1 < left ? $1 : left ))
    echo $(( s > 10 ? s : 10 ))
}

# parts: this device's triton primaries at the search config and at any other ("FIXED VARY"; "0 0"
# when there is no store yet). Counted per device: another GPU or software stack is another device.
parts() {
    "$PY" - "$DB" <<'EOF' 2>/dev/null || echo "0 0"
import sys
from gnnlat.network import NetworkConfig
from harness.store import ProfileStore, fingerprint_id
from harness.timers import TritonTimer
fp = fingerprint_id(TritonTimer().fingerprint())
with ProfileStore(sys.argv[1], create=False) as store:
    samples = store.samples("triton", fp)
fixed = sum(NetworkConfig.from_dict(s.config) == NetworkConfig() for s in samples)
print(fixed, len(samples) - fixed)
EOF
}

# checkpoint: fold a write-ahead log a killed run may have left into the store (one file comes back).
checkpoint() {
    [ -f "$DB" ] && "$PY" -c "import sqlite3, sys; sqlite3.connect(sys.argv[1]).close()" "$DB"
}

environment() {
    echo "== environment"
    date -u
    nvidia-smi -L || echo "nvidia-smi: not available"
    nproc
    "$PY" - <<'EOF'
import platform
from importlib import metadata
print("python", platform.python_version())
for name in ("torch", "triton", "torch_geometric", "onnxruntime", "click", "numpy", "pytest-benchmark"):
    try:
        print(name, metadata.version(name))
    except metadata.PackageNotFoundError:  # report and go on: a missing package is itself a finding
        print(name, "not installed")
import torch
print("cuda available", torch.cuda.is_available(), "| torch cuda", torch.version.cuda)
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(), torch.cuda.get_device_capability())
EOF
}

# profile_run NAME BUDGET JSON PART ARGS...: one profiling run that fills PART (fixed | vary) up to
# PART_N architectures of this device (--n counts all of them, so it is the total plus what is due).
profile_run() {
    local name=$1 budget=$2 json=$3 part=$4 fixed vary due t0=$SECONDS
    shift 4
    read -r fixed vary <<< "$(parts)"
    due=$(( PART_N - $([ "$part" = fixed ] && echo "$fixed" || echo "$vary") ))
    (( due > 0 )) || due=0
    echo "-- $name: this device holds $fixed fixed + $vary vary; $due $part due"
    # --time-limit ends the run cleanly between batches, with its JSON report; the step's budget
    # (SIGINT) is only the backstop for a run that hangs.
    step "$name" "$budget" "$json" "$PY" cli.py profile --backend triton --out "$DB" --json \
        --n $(( fixed + vary + due )) --time-limit $(( budget > 30 ? budget - 20 : 10 )) $PROFILE_ARGS "$@"
    local rc=$?
    echo "-- $name: took $((SECONDS - t0))s in all (start-up included); parts now $(parts)"
    return $rc
}

summary() {
    echo
    echo "== summary ($(date -u +%H:%M:%S) UTC, ${SECONDS}s in all)"
    printf '%-16s %6s %6s\n' step exit seconds
    local row
    for row in "${ROWS[@]}"; do
        IFS='|' read -r name rc took <<< "$row"
        printf '%-16s %6s %6s\n' "$name" "$rc" "$took"
    done
    "$PY" - "$OUT" "$SCRATCH" <<'EOF'
import json, pathlib, sys
out, scratch = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])

def load(name):
    for folder in (out, scratch):
        try:
            return json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
    return None

def floor(nf):
    return f"median {nf['median']:.2%} p90 {nf['p90']:.2%} (n={nf['n']})" if nf and nf.get("n") else "n/a"

tests = out / "gpu-tests.log"
if tests.exists():
    last = [l for l in tests.read_text().splitlines() if l.strip()]
    print("gpu tests       ", last[-1] if last else "(empty log)")
for name in ("profile-fixed.json", "profile-vary.json"):
    p = load(name)
    if not p:
        print(f"{name:<17} no JSON (failed or stopped at its budget; see the parts lines above)")
        continue
    per = p.get("time_per_arch_ms", {})
    print(f"{name:<17} {p['archs_per_hour']:.0f} arch/h, overhead {p['overhead_frac']:.0%}, "
          f"batches of {p.get('batch_archs')}, {p.get('build_workers')} builders"
          + (" (fell back to inline)" if p.get("build_fell_back") else "")
          + f", {p.get('cold_capture_failures')} cold captures redone"
          + "; ms/arch " + " ".join(f"{k} {v:.1f}" for k, v in per.items()))
info = load("triton-info.json")
if info:
    lat = info.get("latency_ms") or {}
    print(f"reference db      {info['samples']} primaries, {info['repeats']} repeats, {info['noisy']} noisy; "
          f"latency {lat.get('min', 0):.3f}..{lat.get('max', 0):.3f} ms")
    print(f"noise floor       raw {floor(info.get('noise_floor'))}; anchored {floor(info.get('anchored_noise_floor'))}")
    for d in info.get("devices", []):
        print(f"device            {d['device']} ({d['backend']}, {d['samples']} samples)")
e = load("energy.json")
if e:
    m = e["metrics"].get("energy", {})
    print(f"energy profile    {m.get('samples', 0)} architectures ({e['measured']} now, {e['ms_per_arch']:.0f} ms each), "
          f"mJ median {m.get('median', 0):.2f}; repeats {floor(e.get('live_noise_floor'))}")
m = load("measure.json")
if m:
    print(f"measure DARTS V2  {m['latency_ms']:.3f} ms, {m.get('peak_memory_mb')} MB, energy {m.get('energy_mj')} mJ "
          f"{m.get('energy_unavailable') or ''}")
search = load("search.json")
print("search smoke     ", f"measured {search['measured_ms']:.3f} ms ({search['backend']})" if search else "no JSON")
EOF
}

main() {
    echo "gpu_session: OUT=$OUT budgets fixed ${FIXED_S}s vary ${VARY_S}s tests ${TESTS_S}s" \
         "energy ${ENERGY_S}s search ${SEARCH_S}s total ${TOTAL_S}s; $PART_N architectures per part"
    if [ "${SKIP_INSTALL:-0}" = 1 ]; then
        echo "== install: skipped (SKIP_INSTALL=1)"
    else
        step install 60 - "$PY" -m pip install -q --no-deps --no-build-isolation -e .
    fi
    environment
    # Each step's budget keeps back what the later steps that are not skipped need.
    local after_vary="energy info measure calibrate gpu-tests search-smoke"
    profile_run profile-fixed "$(capped "$FIXED_S" "$(reserve profile-vary $after_vary)")" \
        "$OUT/profile-fixed.json" fixed --seed 0
    profile_run profile-vary "$(capped "$VARY_S" "$(reserve $after_vary)")" \
        "$OUT/profile-vary.json" vary --seed 1 --vary-config
    # Energy of the fixed part's architectures, in the profile's order (seed 0): it fills their samples in.
    local budget
    budget=$(capped "$ENERGY_S" "$(reserve info measure calibrate gpu-tests search-smoke)")
    step energy "$budget" "$OUT/energy.json" "$PY" cli.py profile --metric energy --backend triton --out "$DB" \
        --n "$PART_N" --seed 0 --energy-window-s "$ENERGY_WINDOW_S" --json --time-limit $(( budget > 30 ? budget - 20 : 10 ))
    step info "$INFO_S" "$SCRATCH/triton-info.json" "$PY" cli.py info "$DB" --json
    checkpoint
    # One architecture's latency, peak memory and energy (NVML) as a user sees them.
    "$PY" -c "from gnnlat.published import DARTS_V2; print(DARTS_V2.to_json())" > /tmp/darts_v2.json
    step measure "$MEASURE_S" "$OUT/measure.json" "$PY" cli.py measure /tmp/darts_v2.json --backend triton --json
    # A new device from the shipped CPU predictor: N=50 measured here, fine-tuned (#19's GPU row).
    step calibrate "$(capped "$CALIBRATE_S" "$(reserve gpu-tests search-smoke)")" - "$PY" cli.py calibrate \
        --predictor onnxruntime-reference --backend triton --n 50 --out "$SCRATCH/calibrated-triton.pt" \
        --profile "$SCRATCH/calibrate.db" --json
    step gpu-tests "$(capped "$TESTS_S" "$(reserve search-smoke)")" - bash -c \
        "set -o pipefail; '$PY' -m pytest -q -m gpu $TEST_FILES 2>&1 | tee '$OUT/gpu-tests.log'"
    step search-smoke "$(capped "$SEARCH_S" 0)" "$OUT/search.json" \
        "$PY" cli.py search --device cuda --epochs 1 --json --out /tmp/s || echo "-- search smoke test failed (non-fatal)"
    summary
}

main "$@" 2>&1 | tee "$OUT/session.log"
exit "${PIPESTATUS[0]}"
