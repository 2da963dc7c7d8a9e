#!/usr/bin/env bash
# GPU run for FlagGems fidelity and isolation cost (device tool; carry .whl and .upstream):
#   ../shared/gpu/fetch-wheels.sh msgspec pyyaml packaging
#   python benchmarks/upstream/build.py <FlagGems-Experimental git dir> .upstream 839e1087
# 1. FlagGems-Experimental's 51 operators with their unit tests run directly (pytest -n 8, cold Triton
#    cache, then warm) and through the plugin (-n 8, warm): per-test outcomes compared;
# 2. the plugin serial (-n 0: one isolated worker) and with --flaggems-isolate=none, warm cache;
# 3. the gpu tests (tests/gpu).
# $OUT gets machine.txt, walls.txt, compare.txt, gpu_tests.txt, plugin_session.json and logs.tar.gz
# (every log and both junit files: the device tool returns at most 8 files).
# The commit's own flag_gems (.upstream/src) comes first on the path in every
# run. The runs happen in a copy at /tmp/upstream, outside this repo (whose pyproject would be their
# rootdir). Logs go to $OUT.
set -uo pipefail
source benchmarks/gpu/setup.sh
rm -rf /tmp/upstream && cp -r .upstream /tmp/upstream
export PYTHONPATH=/tmp/upstream/src:$PYTHONPATH
cat .upstream/COMMIT >> "$OUT/machine.txt"
HERE=$PWD
LOGS=/tmp/upstream-logs && rm -rf $LOGS && mkdir -p $LOGS
(cd /tmp/upstream && python3 -c "import tests.accuracy_utils" 2>&1 | tail -1 | sed 's/^/tests.accuracy_utils imports: /' >> "$OUT/machine.txt")
timed() {  # name, then the pytest arguments; run in .upstream
  local start end rc
  start=$(date +%s.%N)
  (cd /tmp/upstream && python3 -m pytest -p no:cacheprovider -q "${@:2}" > "$LOGS/$1.log" 2>&1)
  rc=$?
  end=$(date +%s.%N)
  echo "$1 rc=$rc wall=$(python3 -c "print(round($end - $start, 1))") s: $(tail -1 "$LOGS/$1.log")" | tee -a "$OUT/walls.txt"
}
PLUGIN="--flaggems-ops=experimental_tests/operators --flaggems-device=cuda --flaggems-timeout=300"
timed direct-n8-cold experimental_tests/unit -n 8 --junitxml="$LOGS/direct.xml"
timed direct-n8-warm experimental_tests/unit -n 8
timed plugin-n8 $PLUGIN -n 8 --junitxml="$LOGS/plugin.xml" --flaggems-report-dir=/tmp/plugin-n8
timed plugin-serial-process $PLUGIN --flaggems-report-dir=/tmp/serial-process
timed plugin-serial-none $PLUGIN --flaggems-isolate=none --flaggems-report-dir=/tmp/serial-none
timed direct-serial-warm experimental_tests/unit
python3 "$HERE/benchmarks/upstream/compare.py" "$LOGS/direct.xml" "$LOGS/plugin.xml" > "$OUT/compare.txt"
cp /tmp/plugin-n8/session.json "$OUT/plugin_session.json"
PYTHONPATH=${PYTHONPATH#/tmp/upstream/src:} python3 -m pytest -p no:cacheprovider -m gpu tests/gpu -q -rs > "$LOGS/gpu_tests.log" 2>&1
tail -3 "$LOGS/gpu_tests.log" > "$OUT/gpu_tests.txt"
tar czf "$OUT/logs.tar.gz" -C $LOGS .
grep -v "^  differs" "$OUT/compare.txt"; grep "^  differs" "$OUT/compare.txt" | sed 's/::.*: direct/: direct/' | sort | uniq -c
cat "$OUT/gpu_tests.txt"
