#!/usr/bin/env bash
# ab.sh TREE OUT SEED BACKEND N: one fresh profile from a frozen tree; its JSON report.
set -u
T=$1; O=$2; S=$3; B=$4; N=$5; PY=/work/main/.venv/bin/python
mkdir -p $(dirname $O) && cd $T
date -u +%H:%M:%S > $O.start
$PY cli.py profile --n $N --backend $B --seed $S --out $O.db --json > $O.json 2> $O.err
date -u +%H:%M:%S > $O.end
