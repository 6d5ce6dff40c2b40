#!/usr/bin/env bash
# ab.sh TREE OUTDIR SEED: a fresh 300 + 80 onnxruntime profile, a predictor on the 300, scored on the 80.
set -u
T=$1; O=$2; S=$3; PY=/work/main/.venv/bin/python
mkdir -p $O && cd $T
date -u +%H:%M:%S > $O/start
$PY cli.py profile --n 300 --backend onnxruntime --seed $S --visits ${VISITS:-1} --out $O/p.db --json > $O/p300.json 2> $O/p300.err
$PY cli.py train-predictor --profile $O/p.db --val-frac 0 --out $O/m.pt --json > $O/train.json 2> $O/train.err
$PY cli.py profile --n 380 --backend onnxruntime --seed $((S+1)) --visits ${VISITS:-1} --out $O/p.db --json > $O/p80.json 2> $O/p80.err
$PY cli.py validate --predictor $O/m.pt --profile $O/p.db --held-out --no-speed-check --json > $O/val.json 2> $O/val.err
$PY cli.py info $O/p.db --json > $O/info.json
date -u +%H:%M:%S > $O/end
