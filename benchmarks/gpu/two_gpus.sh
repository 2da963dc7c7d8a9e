#!/usr/bin/env bash
# Issue 17 (device tool, kind nvidia-h100-x2, .whl carried): the same work on one GPU and on two.
# 10 flag-gems corpus operators x 4 configurations, --flaggems-bench, -n 4: first with
# CUDA_VISIBLE_DEVICES=0 (every worker on GPU 0), then with both GPUs visible (workers go round
# them). nvidia-smi is sampled during the second run to show which GPU each worker used.
#   bash benchmarks/gpu/two_gpus.sh
set -uo pipefail
source benchmarks/gpu/setup.sh
nvidia-smi -L > "$OUT/gpus.txt"
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
rm -rf /tmp/sub && mkdir -p /tmp/sub
for o in abs celu cos_ elu exp2 gelu_ maximum reciprocal sigmoid softplus; do cp /tmp/corpus/$o.json /tmp/sub/; done
run() {  # name, then the environment's CUDA_VISIBLE_DEVICES (empty: unset)
  export TRITON_CACHE_DIR=/tmp/triton-cache-$1
  /usr/bin/time -f "$1 wall %e s" env ${2:+CUDA_VISIBLE_DEVICES=$2} python3 -m pytest -p no:cacheprovider -q -n 4 \
    --flaggems-ops=/tmp/sub --flaggems-device=cuda --flaggems-bench --flaggems-bench-shapes=1024x1024,4096x4096 \
    --flaggems-bench-dtypes=float16,float32 --flaggems-batch=1 --flaggems-gate=off \
    --flaggems-report-dir=/tmp/out-$1 --flaggems-regen=/tmp/out-$1/regen > "$OUT/$1.log" 2>&1
  tail -2 "$OUT/$1.log"
}
run one-gpu 0
( while true; do nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv,noheader; sleep 2; done ) \
  > "$OUT/smi-two.txt" 2>&1 &
SAMPLER=$!
run two-gpus ""
kill $SAMPLER
echo "processes seen per GPU during the two-GPU run:"; sort -u "$OUT/smi-two.txt" | awk -F, '{print $2}' | sort | uniq -c
python3 benchmarks/gpu/compare_sessions.py /tmp/out-one-gpu /tmp/out-two-gpus | tee "$OUT/compare.json"
