#!/usr/bin/env bash
# Issue 17 (device tool; carry .whl): the device image's Python compiles its libraries from source
# in every fresh process (startup_probe.sh: 1,606 modules compiled, 8 s, while one process collects
# the corpus). A pip-installed torch carries bytecode; this runs the 102-operator corpus (as
# gate_ab.sh does: -n 4, benchmarks, gate) alternately without bytecode (the image as it is: tag
# "src") and with it ("pyc": compileall into PYTHONPYCACHEPREFIX first, as an install would),
# this tree each time, each run with a cold Triton cache and a fresh HOME.
#   ORDER="src pyc src pyc" bash benchmarks/gpu/bytecode_ab.sh
set -uo pipefail
BYTECODE=0 source benchmarks/gpu/setup.sh
source benchmarks/gpu/corpus_run.sh
purelib=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
{ env | grep '^PYTHON' | sort
  python3 -c "import sys; print('dont_write_bytecode', sys.dont_write_bytecode, 'pycache_prefix', sys.pycache_prefix)"
  echo "torch's folder: $(ls -d "$purelib"/torch/__pycache__ 2>&1 | tail -1)"
  touch "$purelib/.probe" 2>/dev/null && echo "site-packages writable" && rm -f "$purelib/.probe" || echo "site-packages read-only"
} | tee "$OUT/python-env.txt"
python3 -m corpus.build .whl/flag_gems-5.0.2-py3-none-any.whl /tmp/corpus > /dev/null
echo "import torch, triton, flag_gems without bytecode: $(seconds python3 -c "import torch, triton, flag_gems") s" \
  | tee -a "$OUT/python-env.txt"
echo "compileall: $(seconds compile_bytecode) s" | tee -a "$OUT/python-env.txt"
echo "the same with bytecode: $(PYTHONPYCACHEPREFIX=$PYCACHE seconds python3 -c "import torch, triton, flag_gems") s" \
  | tee -a "$OUT/python-env.txt"
i=0
for tag in ${ORDER:-src pyc src pyc}; do
  i=$((i + 1))
  if [ "$tag" = pyc ]; then  # for this run only (an empty PYTHONDONTWRITEBYTECODE is no setting)
    PYTHONPYCACHEPREFIX=$PYCACHE PYTHONDONTWRITEBYTECODE= corpus_run "$tag$i" 4
  else
    corpus_run "$tag$i" 4
  fi
done
corpus_summary
