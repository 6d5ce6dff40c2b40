#!/usr/bin/env bash
# Waits for the transplant report, then alternates 8-slot (A) and 32-slot/2.4-s-window (B) 300 + 80 profiles.
cd /work/main
while [ ! -s runs/transplant/report8.json ]; do sleep 10; done
sleep 5
AB=/work/main/runs/onnx-warmup-2026-11-28/ab.sh
O=/work/main/runs/slots-ab
bash $AB /tmp/treeA $O/runA91 91
bash $AB /tmp/treeB $O/runB91 91
bash $AB /tmp/treeB $O/runB93 93
bash $AB /tmp/treeA $O/runA93 93
date -u +%H:%M:%S > $O/done
