# Sourced by the GPU scripts (device tool, .whl carried): the wheels and this project into
# /tmp/site, PYTHONPATH, and what the machine is (into $OUT/machine.txt).
rm -rf /tmp/site  # a warm machine keeps the last call's: pip --target would not replace it
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site . || exit 1
export PYTHONPATH=/tmp/site:$PWD/tests PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import torch, triton, flag_gems; print('torch', torch.__version__, 'triton', triton.__version__, 'flag_gems', flag_gems.__version__)"
  nproc; } > "$OUT/machine.txt" 2>&1
# The device image ships its libraries without bytecode and sets PYTHONDONTWRITEBYTECODE: every
# fresh process compiled torch, flag_gems, sympy... from source (~1,600 modules, 8 s while a
# process collected the corpus; bytecode_ab.sh). A pip install writes bytecode, so the scripts
# measure with it, in a prefix folder (BYTECODE=0: the image as it is). docs/benchmarks.md.
PYCACHE=/tmp/pycache
compile_bytecode() {  # the libraries' bytecode into $PYCACHE (read where PYTHONPYCACHEPREFIX=$PYCACHE)
  PYTHONPYCACHEPREFIX=$PYCACHE python3 -m compileall -q -j 0 /tmp/site $(python3 -c \
    "import sysconfig; print(*(sysconfig.get_paths()[k] for k in ('purelib', 'stdlib')))") > /dev/null 2>&1
}
if [ "${BYTECODE:-1}" = 1 ]; then
  compile_bytecode
  export PYTHONPYCACHEPREFIX=$PYCACHE && unset PYTHONDONTWRITEBYTECODE
  echo "bytecode: compiled into $PYTHONPYCACHEPREFIX" >> "$OUT/machine.txt"
fi
