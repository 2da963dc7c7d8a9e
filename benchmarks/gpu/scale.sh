#!/usr/bin/env bash
# Issue 17 (device tool, .whl carried): the flag-gems 5.0.2 corpus (102 operator files; those whose
# tests pass are benchmarked) x 4 configurations x 3 implementations, screened and benchmarked on
# one GPU with -n 4 (tests share the GPU, timings take it alone), cold Triton cache, gate on.
#   bash benchmarks/gpu/scale.sh
set -uo pipefail
source benchmarks/gpu/setup.sh
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
export TRITON_CACHE_DIR=/tmp/triton-cache-scale
/usr/bin/time -f "scale wall %e s" python3 -m pytest -p no:cacheprovider -q -n 4 --flaggems-ops=/tmp/corpus \
  --flaggems-device=cuda --flaggems-bench --flaggems-bench-shapes=1024x1024,4096x4096 \
  --flaggems-bench-dtypes=float16,float32 --flaggems-timeout=120 --flaggems-report-dir=/tmp/out-scale \
  > "$OUT/scale.log" 2>&1
tail -4 "$OUT/scale.log"
python3 - <<'PY'
import json
s = json.load(open("/tmp/out-scale/session.json"))
ops = s["operators"]
benched = [op for op, e in ops.items() if e.get("bench")]
rows = sum(len(e["bench"]) for e in ops.values())
impls = sum(len(r["spread"]) for e in ops.values() for r in e["bench"])
bench_s = sum(e["seconds"].get("bench", 0) for e in ops.values())
print(json.dumps({"operator files": len(ops), "benchmarked operators": len(benched), "configs": rows,
                  "(impl, config) measurements": impls, "bench item seconds (summed over workers)": bench_s,
                  "timing": s["timing"]}, indent=1))
PY
cp /tmp/out-scale/session.json "$OUT/session-scale.json"
