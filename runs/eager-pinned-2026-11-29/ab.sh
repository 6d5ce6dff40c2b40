#!/usr/bin/env bash
# Eager cpu profiles, 150 + 30 repeats each, alternating: threads pinned to 1 (working tree, 5bae9d5) vs as before (frozen tree of bc7f9e1: torch's default, 2 threads).
set -u
O=/work/main/runs/eager-pinned-2026-11-29; PY=/work/main/.venv/bin/python
run() { local tree=$1 name=$2 seed=$3; cd $tree; date -u +%H:%M:%S > $O/$name.start
  $PY cli.py profile --n 150 --backend cpu --repeat-frac 0.2 --seed $seed --out $O/$name.db --json > $O/$name.json 2> $O/$name.err; }
run /work/main pinned-71 71
run /tmp/tree-head default-71 71
run /tmp/tree-head default-72 72
run /work/main pinned-72 72
date -u +%H:%M:%S > $O/end
