# Sourced by the corpus scripts (gate_ab.sh, workers.sh, bytecode_ab.sh, startup_probe.sh):
# corpus_run TAG WORKERS runs the 102-op corpus in /tmp/corpus (-n WORKERS, benchmarks at 1024² and
# 4096² x fp16/fp32, gate on) with a cold Triton cache and a fresh HOME, the PYTHONPATH of the
# caller; log, walls and session into $OUT, report in /tmp/out-TAG. corpus_summary, once they ran:
# their perf files and sessions archived, their selections compared (summary.json).
CORPUS_RUNS=()
seconds() {  # how long a command took, its output dropped
  local start end; start=$(date +%s.%N); "$@" > /dev/null 2>&1; end=$(date +%s.%N)
  python3 -c "print(round($end - $start, 2))"
}
corpus_run() {
  local tag=$1 workers=$2 start end
  CORPUS_RUNS+=("$tag")
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
corpus_summary() {
  tar czf "$OUT/regen.tar.gz" -C /tmp $(for tag in "${CORPUS_RUNS[@]}"; do echo "out-$tag/regen out-$tag/session.json"; done)
  # The device tool brings back a few files: logs and sessions in one archive.
  (cd "$OUT" && tar czf runs.tar.gz scale-*.log session-*.json && rm -f scale-*.log session-*.json)
  python3 - "${CORPUS_RUNS[@]}" <<'PY' | tee "$OUT/summary.json"
import json, sys
runs = {tag: json.load(open(f"/tmp/out-{tag}/session.json")) for tag in sys.argv[1:]}
selected = {tag: sorted(d["op"] for d in s["decisions"] if d["selected"]) for tag, s in runs.items()}
gated = {tag: sorted(op for op, e in s["operators"].items() if e.get("gate")) for tag, s in runs.items()}
first = next(iter(selected.values()))
print(json.dumps({"timing": {tag: s["timing"] for tag, s in runs.items()},
                  "selected": {tag: len(v) for tag, v in selected.items()},
                  "differ from the first": {tag: sorted(set(v) ^ set(first)) for tag, v in selected.items()},
                  "gated": {tag: len(v) for tag, v in gated.items()}}, indent=1))
PY
}
