# Sourced by the GPU scripts (device tool, .whl carried): the wheels and this project into
# /tmp/site, PYTHONPATH, and what the machine is (into $OUT/machine.txt).
rm -rf /tmp/site  # a warm machine keeps the last call's: pip --target would not replace it
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site . || exit 1
export PYTHONPATH=/tmp/site:$PWD/tests PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import torch, triton, flag_gems; print('torch', torch.__version__, 'triton', triton.__version__, 'flag_gems', flag_gems.__version__)"
  nproc; } > "$OUT/machine.txt" 2>&1
