#!/usr/bin/env bash
# Issue 17 (device tool, .whl carried): the steady measurement against the one it replaced, one GPU.
#   bash benchmarks/gpu/steady.sh
set -uo pipefail
source benchmarks/gpu/setup.sh
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
/usr/bin/time -f "steady_compare wall %e s" python3 benchmarks/gpu/steady_compare.py /tmp/corpus "$OUT/steady.json" \
  > "$OUT/steady-summary.json" 2> "$OUT/steady.log"
cat "$OUT/steady-summary.json"; tail -5 "$OUT/steady.log"
