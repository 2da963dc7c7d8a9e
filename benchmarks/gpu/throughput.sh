#!/usr/bin/env bash
# Issue 17 (device tool; carry .whl and .upstream): where a screening run's time goes now.
#   bash benchmarks/gpu/throughput.sh cold    # FlagGems-Experimental's 51 ops: plain pytest -n 8 vs the
#                                             # plugin -n 8, each with a cold cache of its own (fresh HOME,
#                                             # so Triton's and FlagGems' caches start empty)
#   bash benchmarks/gpu/throughput.sh scale   # the flag-gems 5.0.2 corpus, -n 4, benchmarks and gate (as scale.sh)
set -uo pipefail
source benchmarks/gpu/setup.sh
HERE=$PWD
python3 -c "import torch, triton, flag_gems" 2>/dev/null  # the libraries in the page cache for both runs
if [ "$1" = cold ]; then
  rm -rf /tmp/upstream && cp -r .upstream /tmp/upstream
  for run in plugin direct plugin2 direct2; do
    rm -rf "/tmp/home-$run" && mkdir -p "/tmp/home-$run"
    case $run in
      plugin*) args="--flaggems-ops=experimental_tests/operators --flaggems-device=cuda --flaggems-timeout=300 --flaggems-report-dir=/tmp/out-$run" ;;
      direct*) args="experimental_tests/unit" ;;
    esac
    start=$(date +%s.%N)
    (cd /tmp/upstream && HOME=/tmp/home-$run PYTHONPATH=/tmp/upstream/src:$PYTHONPATH \
      python3 -m pytest -p no:cacheprovider -q -n 8 $args > "$OUT/cold-$run.log" 2>&1)
    rc=$?
    end=$(date +%s.%N)
    echo "$run -n 8 cold rc=$rc wall=$(python3 -c "print(round($end - $start, 1))") s: $(tail -1 "$OUT/cold-$run.log")" | tee -a "$OUT/walls.txt"
  done
  python3 -c "import json; t=json.load(open('/tmp/out-plugin/session.json'))['timing']; print('plugin timing', t)" | tee -a "$OUT/walls.txt"
  python3 -c "import json; t=json.load(open('/tmp/out-plugin2/session.json'))['timing']; print('plugin2 timing', t)" | tee -a "$OUT/walls.txt"
fi
if [ "$1" = scale ]; then
  bash benchmarks/gpu/scale.sh > /dev/null  # the run itself: scale.sh (its log, session and summary in $OUT)
  python3 - <<'PY' | tee "$OUT/scale-summary.json"
import json
s = json.load(open("/tmp/out-scale/session.json"))
ops = s["operators"]
selected = sum(d["selected"] for d in s["decisions"])
gated = [op for op, e in ops.items() if e.get("gate")]
print(json.dumps({"operator files": len(ops), "benchmarked": sum(bool(e.get("bench")) for e in ops.values()),
                  "gated": len(gated), "selected": selected, "timing": s["timing"]}, indent=1))
PY
fi
