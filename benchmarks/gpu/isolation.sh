#!/usr/bin/env bash
# GPU run for isolation (device tool, .whl carried: ../shared/gpu/fetch-wheels.sh msgspec fastjsonschema):
#  1. the gpu tests (tests/gpu: examples on CUDA, timing modes, an illegal-address and an endless kernel);
#  2. what isolation costs: the examples and the flag-gems 5.0.2 corpus screened with the default
#     --flaggems-isolate=process (-n 1) and with none, Triton cache warmed first, each mode twice, alternating.
# Logs go to $OUT (copied to benchmarks/results/).
set -uo pipefail
source benchmarks/gpu/setup.sh
python3 -m pytest -p no:cacheprovider -m gpu tests/gpu -v -rs -s > "$OUT/gpu_tests.log" 2>&1
tail -8 "$OUT/gpu_tests.log"
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
screen() {  # name folder mode
  local start end
  start=$(date +%s.%N)
  python3 -m pytest -p no:cacheprovider -q --flaggems-ops="$2" --flaggems-device=cuda --flaggems-isolate="$3" \
    --flaggems-timeout=120 --flaggems-report-dir="/tmp/out-$1-$3" > "/tmp/$1-$3.log" 2>&1
  local rc=$?
  end=$(date +%s.%N)
  echo "$1 $3 rc=$rc wall=$(python3 -c "print(round($end - $start, 2))") $(tail -1 /tmp/$1-$3.log)" | tee -a "$OUT/isolation_cost.txt"
}
screen examples examples/operator_data none > /dev/null  # warm the Triton cache
screen corpus /tmp/corpus none > /dev/null
: > "$OUT/isolation_cost.txt"
for round in 1 2; do
  for mode in process none; do
    screen examples examples/operator_data $mode
    screen corpus /tmp/corpus $mode
  done
done
cp /tmp/out-corpus-process/session.json "$OUT/corpus_session_isolated.json"
cp /tmp/corpus-process.log "$OUT/corpus_isolated.log"
