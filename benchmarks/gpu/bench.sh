#!/usr/bin/env bash
# GPU benchmark run (device tool): --flaggems-bench on the examples and on 16 corpus operators that
# FlagGems 5.0.2 also implements; regenerated perf files, session and a JUnit XML with item times go
# to $OUT/$RUN. With BARE=1 the bare triton.testing script then repeats the same measurements.
#   RUN=run1 BARE=1 bash benchmarks/gpu/bench.sh   (then RUN=run2 for repeatability)
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD/src:$PWD/tests || exit 1
export PYTHONUNBUFFERED=1
RUN=${RUN:-run1}
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
rm -rf /tmp/sub /tmp/ex_ops && mkdir -p /tmp/sub "$OUT/$RUN"
for o in abs abs_ addcdiv celu cos_ elu exp2 exp_ gelu_ maximum mse_loss reciprocal sigmoid sigmoid_ softplus triu; do
  cp /tmp/corpus/$o.json /tmp/sub/
done
cp -r examples/operator_data /tmp/ex_ops && cp examples/*.json /tmp/
/usr/bin/time -f "$RUN wall %e s" python3 -m pytest -p pytest_flaggems_import.plugin.hooks -p no:cacheprovider -q \
  --flaggems-ops=/tmp/ex_ops --flaggems-ops=/tmp/sub --flaggems-device=cuda --flaggems-bench \
  --flaggems-your-data=/tmp/your_perf_data.json --flaggems-bench-shapes=1024x1024,4096x4096 \
  --flaggems-bench-dtypes=float16,float32 --flaggems-batch=auto --flaggems-threshold=1.3,1.25 \
  --flaggems-report-dir="$OUT/$RUN" --flaggems-regen="$OUT/$RUN" --junitxml="$OUT/$RUN/junit.xml" \
  --benchmark-disable-gc > "$OUT/$RUN.log" 2>&1
tail -60 "$OUT/$RUN.log"
if [ "${BARE:-0}" = 1 ]; then
  /usr/bin/time -f "bare wall %e s" python3 benchmarks/gpu/bare_dobench.py "$OUT/$RUN" /tmp/ex_ops /tmp/sub > "$OUT/bare.json"
fi
