# The two commands of the README. Both build .venv on first use (torch's CPU build first).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench mutation clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	./run-demo

test: $(VENV)/.installed
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m mypy src/pytest_flaggems_import/core
	$(PY) -m pytest -n 2 tests

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_select.py

# Mutation testing of the verdict's code (pyproject's [tool.mutmut]; docs/testing.md): not in CI
# (about an hour on 2 cores). Subprocess tests are deselected (they import the unmutated package).
mutation: $(VENV)/.installed
	$(PY) -m pip install -q 'mutmut>=3.3'
	rm -rf mutants
	FLAGGEMS_FUZZ_EXAMPLES=10 $(VENV)/bin/mutmut run --max-children 2
	$(PY) benchmarks/mutation_score.py

clean:
	rm -rf $(VENV) demo-out
