#!/usr/bin/env bash
# Issue 17 (device tool, .whl carried): --flaggems-bench serial vs -n 4 on one GPU, the same 10
# flag-gems corpus operators x 4 configurations, each run with its own cold Triton cache. With the
# device lock (runner.gpu_lock) no timing overlaps the other workers' tests or timings, so the
# speedups must agree as two serial runs do.   bash benchmarks/gpu/concurrent.sh
# RUNS="serial serial2" compares two serial sessions instead (the baseline: how far two runs differ anyway).
set -uo pipefail
source benchmarks/gpu/setup.sh
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
rm -rf /tmp/sub && mkdir -p /tmp/sub
for o in abs celu cos_ elu exp2 gelu_ maximum reciprocal sigmoid softplus; do cp /tmp/corpus/$o.json /tmp/sub/; done
RUNS=${RUNS:-serial n4}
for run in $RUNS; do
  extra=""; [ "$run" = n4 ] && extra="-n 4"
  export TRITON_CACHE_DIR=/tmp/triton-cache-$run
  /usr/bin/time -f "$run wall %e s" python3 -m pytest -p no:cacheprovider -q $extra --flaggems-ops=/tmp/sub \
    --flaggems-device=cuda --flaggems-bench --flaggems-bench-shapes=1024x1024,4096x4096 \
    --flaggems-bench-dtypes=float16,float32 --flaggems-batch=1 --flaggems-gate=off \
    --flaggems-report-dir=/tmp/out-$run --flaggems-regen=/tmp/out-$run/regen > "$OUT/$run.log" 2>&1
  tail -3 "$OUT/$run.log"
done
set -- $RUNS
python3 benchmarks/gpu/compare_sessions.py /tmp/out-$1 /tmp/out-$2 | tee "$OUT/compare.json"
tar -C /tmp -czf "$OUT/sessions.tar.gz" out-$1 out-$2
