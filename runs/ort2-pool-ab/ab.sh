#!/usr/bin/env bash
# Alternating 2-thread ONNX Runtime profiles (300 at the search config): shared pool (working tree) vs per-session pools (frozen HEAD tree).
set -u
O=/work/main/runs/ort2-pool-ab; PY=/work/main/.venv/bin/python
run() { local tree=$1 name=$2 seed=$3; cd $tree; date -u +%H:%M:%S > $O/$name.start
  $PY cli.py profile --n 300 --backend onnxruntime --threads 2 --seed $seed --out $O/$name.db --json > $O/$name.json 2> $O/$name.err; }
run /work/main shared-31 31
run /tmp/tree-head session-31 31
run /tmp/tree-head session-32 32
run /work/main shared-32 32
date -u +%H:%M:%S > $O/end
