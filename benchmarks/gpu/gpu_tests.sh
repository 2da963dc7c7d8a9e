#!/usr/bin/env bash
# The tests marked gpu, on the GPU machine, with the project installed (entry points included).
#   bash benchmarks/gpu/gpu_tests.sh   (device tool, .whl carried: ../shared/gpu/fetch-wheels.sh msgspec)
set -uo pipefail
rm -rf /tmp/site  # a warm machine keeps the last call's: pip --target would not replace it
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site . || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
python3 -m pytest -p no:cacheprovider -m gpu tests/gpu -v -rs 2>&1 | tee "$OUT/gpu_tests.log" | tail -15
