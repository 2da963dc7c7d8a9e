#!/usr/bin/env bash
# GPU run (device tool) for the proof checks' false alarms, every check on (own kernel, fallback,
# contract, caching, ghost replay, vacuous tests, the correctness gate):
#  1. tests/gpu;
#  2. the examples (their perf files select gelu, silu, huber_loss: the gate checks those);
#  3. the flag-gems 5.0.2 corpus (102 generated operators, a generic test each) with a perf claim
#     that would select every one in batch 2, so the gate checks every operator whose tests pass;
#  4. FlagGems-Experimental's 51 operators with their own unit tests, through the plugin -n 8
#     (vacuous-test and cache checks on maintainers' tests), per-test outcomes vs the direct run.
# Carry .whl and .upstream (benchmarks/upstream/build.py ... .upstream 839e1087). $OUT: summary.txt,
# corpus_reasons.txt, compare.txt, logs.tar.gz.
set -uo pipefail
source benchmarks/gpu/setup.sh
LOGS=/tmp/alarms-logs && rm -rf $LOGS && mkdir -p $LOGS
STEPS=${STEPS:-gpu examples corpus upstream}  # e.g. STEPS=corpus bash benchmarks/gpu/alarms.sh
if [[ $STEPS == *gpu* ]]; then
python3 -m pytest -p no:cacheprovider -m gpu tests/gpu -q -rs > $LOGS/gpu_tests.log 2>&1
echo "gpu tests: $(tail -1 $LOGS/gpu_tests.log)" | tee -a "$OUT/summary.txt"
fi
if [[ $STEPS == *examples* ]]; then
python3 -m pytest -p no:cacheprovider -q --flaggems-ops=examples/operator_data --flaggems-device=cuda \
  --flaggems-report-dir=/tmp/examples > $LOGS/examples.log 2>&1
grep -E "^(gelu|relu|silu|frac|huber_loss|softshrink) " $LOGS/examples.log | tee -a "$OUT/summary.txt"
fi
if [[ $STEPS == *corpus* ]]; then
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
python3 - /tmp/corpus /tmp/corpus_perf.json <<'PY'
import json, pathlib, sys
ops = {}
for f in pathlib.Path(sys.argv[1]).rglob("*.json"):
    name = json.loads(f.read_text())["op_name"].split("::")[-1]
    ops[name] = {"configs": [{"shape": [1024, 1024], "dtype": d, "your_time": 0.05, "cuda_time": 0.06} for d in ("float16", "float32")]}
pathlib.Path(sys.argv[2]).write_text(json.dumps(ops))
PY
start=$(date +%s)
python3 -m pytest -p no:cacheprovider -q --flaggems-ops=/tmp/corpus --flaggems-device=cuda --flaggems-timeout=120 \
  --flaggems-your-data=/tmp/corpus_perf.json --flaggems-batch=2 --flaggems-report-dir=/tmp/corpus-out -n 8 > $LOGS/corpus.log 2>&1
echo "corpus -n 8 wall $(( $(date +%s) - start )) s: $(tail -1 $LOGS/corpus.log)" | tee -a "$OUT/summary.txt"
cp /tmp/corpus-out/session.json $LOGS/corpus_session.json
python3 - /tmp/corpus-out/session.json <<'PY' | tee "$OUT/corpus_reasons.txt"
import collections, json, sys
session = json.load(open(sys.argv[1]))
kinds = (("gate", "tool's own inputs"), ("vacuous", "vacuous"), ("cache", "(a cache)"), ("no own kernel", "of its own"),
         ("fallback", "falls back"), ("ghost", "ghost replay"), ("contract", "BrokenContract"), ("tampering", "Tampering"))
reasons = collections.Counter()
for d in session["decisions"]:
    r = d.get("reason") or ""
    proof = [k for k, p in kinds if p in r]
    reasons["selected" if d.get("selected") else proof[0] if proof else "tests failed" if r.startswith("tests failed") else r[:50]] += 1
print(dict(reasons))
gated = [o for o in session["operators"].values() if o.get("gate")]
print("gate ran on", len(gated), "operators; not checkable:", sum(1 for o in gated if o["gate"].get("unsupported")),
      "; gate errors:", sum(1 for o in gated if o["gate"].get("error")), "; checked cases:", sum(o["gate"].get("checked", 0) for o in gated))
for o in gated:
    g = o["gate"]
    if g.get("wrong") or g.get("raised") or g.get("error") or g.get("limits"):
        print(" ", o["op"], "::", json.dumps({k: (v[:2] if isinstance(v, list) else v) for k, v in g.items() if v})[:600])
for d in session["decisions"]:
    r = d.get("reason") or ""
    if any(p in r for _, p in kinds):
        print(d["op"], "::", r[:300])
PY
fi
if [[ $STEPS == *upstream* ]]; then
rm -rf /tmp/upstream && cp -r .upstream /tmp/upstream
(cd /tmp/upstream && PYTHONPATH=/tmp/upstream/src:$PYTHONPATH python3 -m pytest -p no:cacheprovider -q experimental_tests/unit -n 8 \
  --junitxml=$LOGS/direct.xml > $LOGS/direct.log 2>&1)
(cd /tmp/upstream && PYTHONPATH=/tmp/upstream/src:$PYTHONPATH python3 -m pytest -p no:cacheprovider -q \
  --flaggems-ops=experimental_tests/operators --flaggems-device=cuda --flaggems-timeout=300 -n 8 \
  --junitxml=$LOGS/plugin.xml --flaggems-report-dir=/tmp/upstream-out > $LOGS/plugin.log 2>&1)
echo "upstream direct: $(tail -1 $LOGS/direct.log); plugin: $(tail -1 $LOGS/plugin.log)" | tee -a "$OUT/summary.txt"
python3 benchmarks/upstream/compare.py $LOGS/direct.xml $LOGS/plugin.xml > "$OUT/compare.txt"
python3 -c "
import json; s = json.load(open('/tmp/upstream-out/session.json'))
v = {k: o['vacuous'] for k, o in s['operators'].items() if o.get('vacuous')}
print('upstream operators with vacuous tests:', v)
print('blocked by a proof check:', {k: o['blocked'][:120] for k, o in s['operators'].items() if o.get('blocked') and not o['blocked'].startswith(('no perf', 'tests failed'))})
" | tee -a "$OUT/summary.txt"
grep -v "^  differs" "$OUT/compare.txt" | tee -a "$OUT/summary.txt"; grep "^  differs" "$OUT/compare.txt" | sed 's/::.*: direct/: direct/' | sort | uniq -c | tee -a "$OUT/summary.txt"
fi
tar czf "$OUT/logs.tar.gz" -C $LOGS .
