#!/usr/bin/env bash
# A 2-thread ONNX Runtime profile on the AMD EPYC VM: 300 fixed + 300 varied (the ort2 device of #19).
set -u
cd /work/main; O=runs/ort2-amd-2026-11-29; PY=.venv/bin/python
date -u +%H:%M:%S > $O/start
$PY cli.py profile --n 300 --backend onnxruntime --threads 2 --seed 0 --out $O/ort2.db --json > $O/p300.json 2> $O/p300.err
$PY cli.py profile --n 600 --backend onnxruntime --threads 2 --vary-config --seed 1 --out $O/ort2.db --json > $O/p600.json 2> $O/p600.err
$PY cli.py info $O/ort2.db --json > $O/info.json
date -u +%H:%M:%S > $O/end
