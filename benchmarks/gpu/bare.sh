#!/usr/bin/env bash
# The bare triton.testing script over the configs of a committed plugin run (agreement, overhead).
#   REGEN=benchmarks/results/gpu-bench-run2 bash benchmarks/gpu/bare.sh
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site .whl/*.whl 2>/dev/null
export PYTHONPATH=/tmp/site:$PWD/src:$PWD/tests PYTHONUNBUFFERED=1
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
rm -rf /tmp/sub /tmp/ex_ops && mkdir -p /tmp/sub && cp -r examples/operator_data /tmp/ex_ops
for o in abs abs_ addcdiv celu cos_ elu exp2 exp_ gelu_ maximum mse_loss reciprocal sigmoid sigmoid_ softplus triu; do
  cp /tmp/corpus/$o.json /tmp/sub/
done
/usr/bin/time -f "bare wall %e s" python3 benchmarks/gpu/bare_dobench.py "$REGEN" /tmp/ex_ops /tmp/sub > "$OUT/bare.json"
