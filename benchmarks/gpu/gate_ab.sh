#!/usr/bin/env bash
# Issue 17 (device tool; carry .whl and .before): the 102-op flag-gems corpus as scale.sh runs it
# (-n 4, benchmarks, gate), once with an earlier tree of this project (.before: `git archive
# <commit> | tar -x -C .before`) and once with this one, on the same machine, each with a cold
# Triton cache and a fresh HOME. Session files and summaries in $OUT, the measured (unrounded)
# perf files in $OUT/regen.tar.gz (for benchmarks/gpu/compare_sessions.py).
#   bash benchmarks/gpu/gate_ab.sh                  (ORDER="after before" to run this tree first; N=8 for -n 8)
set -uo pipefail
source benchmarks/gpu/setup.sh
source benchmarks/gpu/corpus_run.sh
rm -rf /tmp/site-before  # as in setup.sh: never a warm machine's earlier tree
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site-before .before || exit 1
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
python3 -c "import torch, triton, flag_gems" 2>/dev/null  # the libraries in the page cache for both runs
for tag in ${ORDER:-before after}; do
  path=$PYTHONPATH
  [ "$tag" = before ] && path=/tmp/site-before:$PYTHONPATH
  PYTHONPATH=$path python3 -c "import pytest_flaggems_import as p; print('$tag:', p.__file__)" | tee -a "$OUT/walls.txt"
  PYTHONPATH=$path corpus_run "$tag" "${N:-4}"
done
tar czf "$OUT/regen.tar.gz" -C /tmp out-before/regen out-before/session.json out-after/regen out-after/session.json
python3 - <<'PY' | tee "$OUT/summary.json"
import json
runs = {tag: json.load(open(f"/tmp/out-{tag}/session.json")) for tag in ("before", "after")}
selected = {tag: sorted(d["op"] for d in s["decisions"] if d["selected"]) for tag, s in runs.items()}
gated = {tag: sorted(op for op, e in s["operators"].items() if e.get("gate")) for tag, s in runs.items()}
print(json.dumps({"timing": {tag: s["timing"] for tag, s in runs.items()},
                  "selected": {tag: len(v) for tag, v in selected.items()},
                  "same selection": selected["before"] == selected["after"],
                  "only before": sorted(set(selected["before"]) - set(selected["after"])),
                  "only after": sorted(set(selected["after"]) - set(selected["before"])),
                  "gated": {tag: len(v) for tag, v in gated.items()}}, indent=1))
PY
