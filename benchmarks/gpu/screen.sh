#!/usr/bin/env bash
# GPU screening run (device tool): the examples and the flag-gems 5.0.2 corpus through the plugin
# on CUDA with the real FlagGems. Logs and session files go to $OUT (copied to benchmarks/results/).
#   run from the repo root on the GPU machine, with .whl/ carried (../shared/gpu/fetch-wheels.sh msgspec)
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD/src:$PWD/tests || exit 1
export PYTHONUNBUFFERED=1
PLUGIN="-p pytest_flaggems_import.plugin.hooks -p no:cacheprovider"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch, triton, flag_gems; print('torch', torch.__version__, 'triton', triton.__version__, 'flag_gems', flag_gems.__version__)" | tee -a "$OUT/gpu.txt"
mkdir -p "$OUT/examples"
/usr/bin/time -f "examples wall %e s" python3 -m pytest $PLUGIN -q --flaggems-ops=examples/operator_data \
  --flaggems-device=cuda --flaggems-report-dir="$OUT/examples" > "$OUT/examples.log" 2>&1
tail -25 "$OUT/examples.log"
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus
/usr/bin/time -f "corpus wall %e s" python3 -m pytest $PLUGIN -q --flaggems-ops=/tmp/corpus --flaggems-device=cuda \
  --flaggems-report-dir=/tmp/corpus-out --flaggems-timeout=120 > "$OUT/corpus.log" 2>&1
cp /tmp/corpus-out/session.json "$OUT/corpus_session.json"
tail -5 "$OUT/corpus.log"
