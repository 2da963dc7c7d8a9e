#!/usr/bin/env bash
# GPU run for FlagGems fidelity and isolation cost (device tool; carry .whl and .upstream):
#   ../shared/gpu/fetch-wheels.sh msgspec pyyaml packaging
#   python benchmarks/upstream/build.py <FlagGems-Experimental git dir> .upstream
# 1. FlagGems-Experimental's 51 operators with their unit tests run directly (pytest -n 8, cold Triton
#    cache, then warm) and through the plugin (-n 8, warm): per-test outcomes compared;
# 2. the plugin serial (-n 0: one isolated worker) and with --flaggems-isolate=none, warm cache.
# The commit's own flag_gems (.upstream/src) comes first on the path in every run. Logs go to $OUT.
set -uo pipefail
source benchmarks/gpu/setup.sh
export PYTHONPATH=$PWD/.upstream/src:$PYTHONPATH
cat .upstream/COMMIT >> "$OUT/machine.txt"
timed() {  # name, then the pytest arguments; run in .upstream
  local start end rc
  start=$(date +%s.%N)
  (cd .upstream && python3 -m pytest -p no:cacheprovider -q "${@:2}" > "$OUT/$1.log" 2>&1)
  rc=$?
  end=$(date +%s.%N)
  echo "$1 rc=$rc wall=$(python3 -c "print(round($end - $start, 1))") s: $(tail -1 "$OUT/$1.log")" | tee -a "$OUT/walls.txt"
}
PLUGIN="--flaggems-ops=experimental_tests/operators --flaggems-device=cuda --flaggems-timeout=300"
timed direct-n8-cold experimental_tests/unit -n 8 --junitxml="$OUT/direct.xml"
timed direct-n8-warm experimental_tests/unit -n 8
timed plugin-n8 $PLUGIN -n 8 --junitxml="$OUT/plugin.xml" --flaggems-report-dir="$OUT/plugin-n8"
timed plugin-serial-process $PLUGIN --flaggems-report-dir=/tmp/serial-process
timed plugin-serial-none $PLUGIN --flaggems-isolate=none --flaggems-report-dir=/tmp/serial-none
timed direct-serial-warm experimental_tests/unit
python3 benchmarks/upstream/compare.py "$OUT/direct.xml" "$OUT/plugin.xml" > "$OUT/compare.txt"
tail -40 "$OUT/compare.txt"
