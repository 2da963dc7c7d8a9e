#!/usr/bin/env bash
# The importer's mutation run (issue 18) on the device machine's cores instead of this 2-core one.
# Device tool; carry [".whl", ".whl-mut", "mutants"]: .whl-mut holds mutmut and its dependencies
# for the device's Python 3.12 (pip download --only-binary=:all: --python-version 3.12 mutmut==3.8.1
# click coverage setproctitle textual rich markdown-it-py mdurl pygments platformdirs
# typing_extensions mdit-py-plugins linkify-it-py uc-micro-py ruff: a test formats with it), mutants/ a run
# to resume (or none).
#   bash benchmarks/mutation_device.sh [SECONDS]
# $OUT gets mutants.tar.gz: the run's state, to extract at the project root (resume it with the next
# call, or score it: python benchmarks/mutation_score.py).
set -uo pipefail
rm -rf /tmp/site-mut  # fresh: pip --target keeps an existing bin/ (ruff's binary would be missing)
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site-mut .whl/*.whl .whl-mut/*.whl . || exit 1
export PYTHONPATH=/tmp/site-mut PYTHONUNBUFFERED=1 FLAGGEMS_FUZZ_EXAMPLES=10
export PIP_NO_INDEX=1 PIP_FIND_LINKS=$PWD/.whl  # the tests download the flag-gems wheel: from .whl here
sed -i '/^only_mutate = \[/,/^\]/c only_mutate = ["src/pytest_flaggems_import/importer/*"]' pyproject.toml
{ nproc; git --version; python3 -c "import mutmut, sys; print('mutmut', mutmut.__version__, sys.version.split()[0])"; } 2>&1
timeout -s INT "${1:-540}" python3 -m mutmut run --max-children "$(nproc)" > /tmp/mutmut.log 2>&1
echo "mutmut rc=$?"
tr '\r' '\n' < /tmp/mutmut.log | grep -v "^\s*$" | tail -40 > "$OUT/mutmut-tail.txt"; tail -3 "$OUT/mutmut-tail.txt"
tar czf "$OUT/mutants.tar.gz" --exclude=mutants/benchmarks/results mutants
python3 benchmarks/mutation_score.py
