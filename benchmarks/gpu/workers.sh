#!/usr/bin/env bash
# Issue 17 (device tool; carry .whl): the 102-op flag-gems corpus as gate_ab.sh runs it (benchmarks
# at 1024² and 4096² x fp16/fp32, gate on), this tree only, once per worker count in WORKERS, on
# the same machine, each with a cold Triton cache and a fresh HOME: which -n is fastest on one GPU,
# and whether the decisions stay the same.
#   WORKERS="4 8 12" bash benchmarks/gpu/workers.sh
set -uo pipefail
source benchmarks/gpu/setup.sh
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
python3 -c "import torch, triton, flag_gems" 2>/dev/null  # the libraries in the page cache for every run
for n in ${WORKERS:-4 8}; do
  tag=n$n
  rm -rf "/tmp/home-$tag" "/tmp/out-$tag" "/tmp/triton-cache-$tag" && mkdir -p "/tmp/home-$tag"
  start=$(date +%s.%N)
  HOME=/tmp/home-$tag TRITON_CACHE_DIR=/tmp/triton-cache-$tag \
    python3 -m pytest -p no:cacheprovider -q -n "$n" --flaggems-ops=/tmp/corpus \
    --flaggems-device=cuda --flaggems-bench --flaggems-bench-shapes=1024x1024,4096x4096 \
    --flaggems-bench-dtypes=float16,float32 --flaggems-timeout=120 --flaggems-report-dir=/tmp/out-$tag --flaggems-regen=/tmp/out-$tag/regen \
    > "$OUT/scale-$tag.log" 2>&1
  end=$(date +%s.%N)
  echo "$tag wall $(python3 -c "print(round($end - $start, 1))") s: $(tail -1 "$OUT/scale-$tag.log")" | tee -a "$OUT/walls.txt"
  grep "^time:" "$OUT/scale-$tag.log" | tee -a "$OUT/walls.txt"
  cp "/tmp/out-$tag/session.json" "$OUT/session-$tag.json"
done
tar czf "$OUT/regen.tar.gz" -C /tmp $(cd /tmp && ls -d out-n*/regen out-n*/session.json)
python3 - ${WORKERS:-4 8} <<'PY' | tee "$OUT/summary.json"
import json, sys
runs = {n: json.load(open(f"/tmp/out-n{n}/session.json")) for n in sys.argv[1:]}
selected = {n: sorted(d["op"] for d in s["decisions"] if d["selected"]) for n, s in runs.items()}
first = next(iter(selected.values()))
print(json.dumps({"selected": {n: len(v) for n, v in selected.items()},
                  "differ from the first": {n: sorted(set(v) ^ set(first)) for n, v in selected.items()}}, indent=1))
PY
