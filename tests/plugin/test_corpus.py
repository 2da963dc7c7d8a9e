"""Real generated operators: the flag-gems 5.0.2 wheel's ``experimental_ops`` through the plugin on
the CPU, each with the generic test of ``tests/corpus/build.py``. The wheel is fetched from PyPI."""

from __future__ import annotations

import json

import pytest

from corpus.build import build, download_wheel
from helpers import run

MUST_PASS = {"relu", "sigmoid", "elu", "gelu_", "silu", "abs", "huber_loss", "mse_loss", "trace", "triu",
             "hardswish", "leaky_relu", "softplus", "reciprocal", "sgn", "logaddexp2", "multiply.Tensor"}  # fmt: skip


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    return download_wheel(tmp_path_factory.mktemp("wheels"))


def test_generated_operators_of_the_flag_gems_wheel_run_unchanged_on_cpu(pytester, wheel):
    specs = build(wheel, pytester.path / "corpus")
    assert len(specs) > 90
    result = run(pytester, "--flaggems-ops=corpus", "-n", "2", "--flaggems-report-dir=out", "--flaggems-timeout=120")
    session = json.loads((pytester.path / "out" / "session.json").read_text())
    ops = session["operators"]
    passing = {op for op, r in ops.items() if r["passed"] and not r["failed"] and not r["load_error"]}
    assert passing >= MUST_PASS, sorted(MUST_PASS - passing)
    assert len(passing) >= 70, result.stdout.str()[-3000:]
    assert not [op for op, r in ops.items() if r["load_error"]]
    # No false alarm of the proof checks on real generated operators (docs/isolation.md, Cheating).
    proof_reasons = ("of its own", "falls back", "ghost replay", "BrokenContract", "Tampering", "scratch folder")
    alarms = {d["op"]: d["reason"] for d in session["decisions"] if any(p in (d["reason"] or "") for p in proof_reasons)}
    assert not alarms, alarms
