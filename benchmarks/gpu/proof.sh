#!/usr/bin/env bash
# GPU run for proof (device tool, .whl carried): the gpu tests (isolation, proof with the real
# FlagGems: a wrong sigmoid under a dispatch-style test), then the examples and the flag-gems 5.0.2
# corpus screened on CUDA to count false alarms of the own-kernel and fallback checks.
set -uo pipefail
source benchmarks/gpu/setup.sh
python3 -m pytest -p no:cacheprovider -m gpu tests/gpu -v -rs -s > "$OUT/gpu_tests.log" 2>&1
grep -E "PASSED|FAILED|SKIPPED|passed|failed" "$OUT/gpu_tests.log" | tail -12
python3 -m pytest -p no:cacheprovider -q --flaggems-ops=examples/operator_data --flaggems-device=cuda \
  --flaggems-report-dir="$OUT/examples" > "$OUT/examples.log" 2>&1
tail -12 "$OUT/examples.log"
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
python3 -m pytest -p no:cacheprovider -q --flaggems-ops=/tmp/corpus --flaggems-device=cuda --flaggems-timeout=120 \
  --flaggems-report-dir="$OUT/corpus" > "$OUT/corpus.log" 2>&1
tail -3 "$OUT/corpus.log"
python3 - "$OUT/corpus/session.json" <<'PY' | tee "$OUT/corpus_reasons.txt"
import collections, json, sys
session = json.load(open(sys.argv[1]))
reasons = collections.Counter()
for d in session["decisions"]:
    r = d.get("reason") or ""
    proof = [k for k, p in (("no own kernel", "of its own"), ("fallback", "falls back"), ("ghost", "ghost replay"),
                            ("contract", "BrokenContract"), ("tampering", "Tampering"), ("side effect", "scratch folder")) if p in r]
    key = "selected" if d.get("selected") else proof[0] if proof else "tests failed" if r.startswith("tests failed") else r[:60]
    reasons[key] += 1
print(dict(reasons))
for d in session["decisions"]:
    r = d.get("reason") or ""
    if any(p in r for p in ("of its own", "falls back", "ghost replay", "BrokenContract", "Tampering", "scratch folder")):
        print(d["op"], "::", r[:300])
PY
