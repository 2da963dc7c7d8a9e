# Sourced by gate_ab.sh and workers.sh: corpus_run TAG WORKERS runs the 102-op corpus in /tmp/corpus
# (-n WORKERS, benchmarks at 1024² and 4096² x fp16/fp32, gate on) with a cold Triton cache and a
# fresh HOME, the PYTHONPATH of the caller; log, walls and session into $OUT, report in /tmp/out-TAG.
corpus_run() {
  local tag=$1 workers=$2 start end
  rm -rf "/tmp/home-$tag" "/tmp/out-$tag" "/tmp/triton-cache-$tag" && mkdir -p "/tmp/home-$tag"
  start=$(date +%s.%N)
  HOME=/tmp/home-$tag TRITON_CACHE_DIR=/tmp/triton-cache-$tag \
    python3 -m pytest -p no:cacheprovider -q -n "$workers" --flaggems-ops=/tmp/corpus \
    --flaggems-device=cuda --flaggems-bench --flaggems-bench-shapes=1024x1024,4096x4096 \
    --flaggems-bench-dtypes=float16,float32 --flaggems-timeout=120 --flaggems-report-dir=/tmp/out-$tag --flaggems-regen=/tmp/out-$tag/regen \
    > "$OUT/scale-$tag.log" 2>&1
  end=$(date +%s.%N)
  echo "$tag wall $(python3 -c "print(round($end - $start, 1))") s: $(tail -1 "$OUT/scale-$tag.log")" | tee -a "$OUT/walls.txt"
  grep "^time:" "$OUT/scale-$tag.log" | tee -a "$OUT/walls.txt"
  cp "/tmp/out-$tag/session.json" "$OUT/session-$tag.json"
}
