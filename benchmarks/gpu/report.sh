#!/usr/bin/env bash
# GPU run for the reports (device tool, .whl carried): --flaggems-bench (cudagraph) on the examples
# and 16 flag-gems corpus operators FlagGems 5.0.2 also has, serial (timing never concurrent), -v
# (progress lines), with the gate on;
# the report folder (session.json with timings, report.html, report.md, charts) comes back as one
# tarball, the log beside it.
#   bash benchmarks/gpu/report.sh
set -uo pipefail
source benchmarks/gpu/setup.sh
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
rm -rf /tmp/sub /tmp/ex_ops /tmp/report && mkdir -p /tmp/sub /tmp/report
for o in abs abs_ addcdiv celu cos_ elu exp2 exp_ gelu_ maximum mse_loss reciprocal sigmoid sigmoid_ softplus triu; do
  cp /tmp/corpus/$o.json /tmp/sub/
done
cp -r examples/operator_data /tmp/ex_ops && cp examples/*.json /tmp/
/usr/bin/time -f "report run wall %e s" python3 -m pytest -p no:cacheprovider -v \
  --flaggems-ops=/tmp/ex_ops --flaggems-ops=/tmp/sub --flaggems-device=cuda --flaggems-bench \
  --flaggems-bench-metric=cudagraph --flaggems-your-data=/tmp/your_perf_data.json \
  --flaggems-bench-shapes=1024x1024,4096x4096 --flaggems-bench-dtypes=float16,float32 --flaggems-batch=auto \
  --flaggems-report-dir=/tmp/report > "$OUT/report-run.log" 2>&1
grep -E "^flaggems|wall" "$OUT/report-run.log" | tail -40
tail -40 "$OUT/report-run.log"
tar -C /tmp -czf "$OUT/report.tar.gz" report
