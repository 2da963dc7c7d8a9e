#!/usr/bin/env bash
# Issue 17 (device tool; carry .whl and .before): the 102-op flag-gems corpus as scale.sh runs it
# (-n 4, benchmarks, gate), once with an earlier tree of this project (.before: `git archive
# <commit> | tar -x -C .before`) and once with this one, on the same machine, each with a cold
# Triton cache and a fresh HOME. Session files and summaries in $OUT, the measured (unrounded)
# perf files in $OUT/regen.tar.gz (for benchmarks/gpu/compare_sessions.py).
#   bash benchmarks/gpu/gate_ab.sh     (ORDER="before after before after" for ABAB: runs numbered in
#                                       that order, before1 after2 ...; N=8 for -n 8)
set -uo pipefail
source benchmarks/gpu/setup.sh
source benchmarks/gpu/corpus_run.sh
rm -rf /tmp/site-before  # as in setup.sh: never a warm machine's earlier tree
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site-before .before || exit 1
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
python3 -c "import torch, triton, flag_gems" 2>/dev/null  # the libraries in the page cache for both runs
i=0
for tag in ${ORDER:-before after}; do
  i=$((i + 1))
  path=$PYTHONPATH
  [ "$tag" = before ] && path=/tmp/site-before:$PYTHONPATH
  PYTHONPATH=$path python3 -c "import pytest_flaggems_import as p; print('$tag$i:', p.__file__)" | tee -a "$OUT/walls.txt"
  PYTHONPATH=$path corpus_run "$tag$i" "${N:-4}"
done
corpus_summary
