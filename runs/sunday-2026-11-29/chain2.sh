#!/usr/bin/env bash
# After the K=1/K=2 A/B: --visits auto against --visits 1, alternating, on a frozen tree.
D=/work/main/runs/sunday-2026-11-29
while [ ! -f $D/k1-811/end ]; do sleep 5; done
cd /work/main && .venv/bin/python -m pytest -q -x tests/test_visits.py tests/test_stream.py tests/test_rounds.py > $D/tests.log 2>&1
rm -rf /tmp/tree-auto && mkdir -p /tmp/tree-auto && git ls-files -z | xargs -0 tar -c | tar -x -C /tmp/tree-auto && cp harness/visits.py /tmp/tree-auto/harness/
VISITS=auto bash $D/ab.sh /tmp/tree-auto $D/auto-901 901
VISITS=1 bash $D/ab.sh /tmp/tree-auto $D/k1-901 901
VISITS=auto bash $D/ab.sh /tmp/tree-auto $D/auto-911 911
VISITS=1 bash $D/ab.sh /tmp/tree-auto $D/k1-911 911
