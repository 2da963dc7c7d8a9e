#!/usr/bin/env bash
# Issue 17 (device tool; carry .whl): the 102-op flag-gems corpus as gate_ab.sh runs it (benchmarks
# at 1024² and 4096² x fp16/fp32, gate on), this tree only, once per worker count in WORKERS, on
# the same machine, each with a cold Triton cache and a fresh HOME: which -n is fastest on one GPU,
# and whether the decisions stay the same.
#   WORKERS="4 8 12" bash benchmarks/gpu/workers.sh
set -uo pipefail
source benchmarks/gpu/setup.sh
source benchmarks/gpu/corpus_run.sh
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
python3 -c "import torch, triton, flag_gems" 2>/dev/null  # the libraries in the page cache for every run
for n in ${WORKERS:-4 8}; do
  corpus_run "n$n" "$n"
done
tar czf "$OUT/regen.tar.gz" -C /tmp $(cd /tmp && ls -d out-n*/regen out-n*/session.json)
# The device tool brings back a few files: logs and sessions in one archive.
(cd "$OUT" && tar czf runs.tar.gz scale-*.log session-*.json && rm -f scale-*.log session-*.json)
python3 - ${WORKERS:-4 8} <<'PY' | tee "$OUT/summary.json"
import json, sys
runs = {n: json.load(open(f"/tmp/out-n{n}/session.json")) for n in sys.argv[1:]}
selected = {n: sorted(d["op"] for d in s["decisions"] if d["selected"]) for n, s in runs.items()}
first = next(iter(selected.values()))
print(json.dumps({"selected": {n: len(v) for n, v in selected.items()},
                  "differ from the first": {n: sorted(set(v) ^ set(first)) for n, v in selected.items()}}, indent=1))
PY
