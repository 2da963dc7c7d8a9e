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
corpus_summary
