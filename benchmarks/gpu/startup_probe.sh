#!/usr/bin/env bash
# Issue 17 (device tool; carry .whl): where a corpus session's startup goes (session.json
# startup_s, ~11 s of the 102-operator run at -n 4): the libraries' imports (cold, then warm page
# cache), one process collecting the corpus under cProfile (what each xdist worker does before
# its first test), and `--collect-only` at -n 1 and -n 4. Then, with RUN=1, the corpus run itself
# (corpus_run, -n 4) for its time line.
#   bash benchmarks/gpu/startup_probe.sh          (RUN=1 bash ... for the corpus run too)
set -uo pipefail
source benchmarks/gpu/setup.sh
source benchmarks/gpu/corpus_run.sh
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
{ for pass in cold warm; do
    for lib in torch triton flag_gems; do echo "import $lib ($pass): $(seconds python3 -c "import $lib") s"; done
  done
  echo "python3 -c 'import torch; torch.empty(1, device=\"cuda\")': $(seconds python3 -c 'import torch; torch.empty(1, device="cuda")') s"
} | tee "$OUT/imports.txt"
collect=(-p no:cacheprovider -q --collect-only --flaggems-ops=/tmp/corpus --flaggems-device=cuda --flaggems-bench
         --flaggems-bench-shapes=1024x1024,4096x4096 --flaggems-bench-dtypes=float16,float32)
(export TRITON_CACHE_DIR=/tmp/triton-cache-probe HOME=/tmp/home-probe && mkdir -p /tmp/home-probe
python3 -m cProfile -o "$OUT/collect.prof" -m pytest "${collect[@]}" --flaggems-isolate=none > "$OUT/collect-one.log" 2>&1
python3 - "$OUT/collect.prof" <<'PY' | tee "$OUT/collect-profile.txt"
import pstats, sys
stats = pstats.Stats(sys.argv[1])
print("one process, --flaggems-isolate=none --collect-only: %.2f s" % stats.total_tt)
stats.sort_stats("cumulative").print_stats(45)
stats.sort_stats("tottime").print_stats(25)
PY
for n in 1 4; do
  echo "--collect-only -n $n: $(seconds python3 -m pytest "${collect[@]}" -n $n) s" | tee -a "$OUT/imports.txt"
done)
if [ "${RUN:-0}" = 1 ]; then corpus_run n4 4; fi
