#!/usr/bin/env bash
# GPU run (device tool): operators screened by the plugin and imported into a real FlagGems
# checkout in the ops layout; then its tests/test_hardtanh.py and benchmark/test_hardtanh.py run there with
# FlagGems' own pytest configuration (pytest.ini: pythonpath=src; tests/ and benchmark/ conftests).
#   ../shared/gpu/fetch-wheels.sh msgspec pyyaml packaging libcst
#   python benchmarks/upstream/build.py <FlagGems-Experimental git dir> .upstream 839e1087
#   python benchmarks/upstream/build_checkout.py <FlagGems git dir> .upstream .flaggems-tree
#   run: bash benchmarks/gpu/ops_import.sh, carry [".whl", ".flaggems-tree"]
# $OUT: machine.txt, summary.txt, import.diff, logs.tar.gz.
set -uo pipefail
source benchmarks/gpu/setup.sh
cat .flaggems-tree/COMMIT >> "$OUT/machine.txt"
LOGS=/tmp/ops-import-logs && rm -rf $LOGS /tmp/FlagGems && mkdir -p $LOGS
cp -r .flaggems-tree/FlagGems /tmp/FlagGems
(cd /tmp/FlagGems && git init -q && git add -A && git -c user.email=ci@local -c user.name=ci commit -qm base)
screen() {  # op: screen it and import it into /tmp/FlagGems at session end
  python3 -m pytest -p no:cacheprovider -q --flaggems-ops=.flaggems-tree/ops/$1 --flaggems-device=cuda \
    --flaggems-your-data=.flaggems-tree/your_perf_data.json --flaggems-batch=2 --flaggems-report-dir=/tmp/screen-$1 \
    --flaggems-import=/tmp/FlagGems > $LOGS/screen-$1.log 2>&1
  echo "screen $1 rc=$? $(tail -1 $LOGS/screen-$1.log)" | tee -a "$OUT/summary.txt"
  grep -A2 "import into" $LOGS/screen-$1.log | tee -a "$OUT/summary.txt"
}
screen frac  # FlagGems has it (ops/frac_.py): refused, nothing written
(cd /tmp/FlagGems && echo "after frac: $(git status --porcelain | wc -l) paths changed") | tee -a "$OUT/summary.txt"
screen hardtanh
(cd /tmp/FlagGems && git status --porcelain && git diff --stat | tail -1) | tee -a "$OUT/summary.txt"
(cd /tmp/FlagGems && git add -A && git diff --cached) > "$OUT/import.diff"
export PYTHONPATH=${PYTHONPATH#/tmp/site:}:/tmp/site  # the checkout's flag_gems (pytest.ini: pythonpath=src) first
(cd /tmp/FlagGems && python3 -m pytest -p no:cacheprovider -q tests/test_hardtanh.py > $LOGS/checkout_tests.log 2>&1)
echo "tests/test_hardtanh.py in the checkout: rc=$? $(tail -1 $LOGS/checkout_tests.log)" | tee -a "$OUT/summary.txt"
(cd /tmp/FlagGems && python3 -m pytest -p no:cacheprovider -q -s benchmark/test_hardtanh.py > $LOGS/checkout_bench.log 2>&1)
echo "benchmark/test_hardtanh.py in the checkout: rc=$? $(tail -1 $LOGS/checkout_bench.log)" | tee -a "$OUT/summary.txt"
(cd /tmp/FlagGems && PYTHONPATH=src:$PYTHONPATH python3 -c "import flag_gems; from flag_gems.ops import hardtanh; print('checkout flag_gems at', flag_gems.__file__, '; registers', [k for k, *_ in flag_gems._FULL_CONFIG if k.startswith('hardtanh')])" >> "$OUT/summary.txt" 2>&1)
tar czf "$OUT/logs.tar.gz" -C $LOGS .
tail -3 "$OUT/summary.txt"; grep -m5 -E "Error|error" $LOGS/checkout_*.log
