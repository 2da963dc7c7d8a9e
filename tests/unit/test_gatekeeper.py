"""``runner.gatekeeper``: the gate's checks from the deciding process. A fresh process runs each
operator's code; one warm referee compares them all, and nothing an operator does to its own
check (a forged outputs file, the referee dying) changes another operator's verdict."""

from __future__ import annotations

import os
import signal

import pytest

from helpers import RELU_CODE, operator_json, write_json
from pytest_flaggems_import.runner.confine import Confinement
from pytest_flaggems_import.runner.gate import finding
from pytest_flaggems_import.runner.gatekeeper import Gatekeeper

pytestmark = pytest.mark.subprocess

HONEST = RELU_CODE.format(grid="triton.cdiv(x.numel(), 1024)")
CONFIGS = [([8], "float32")]
# Makes its own check vacuous: an empty results file where the referee reads it, then a clean exit.
FORGER = """
import os, sys
if sys.argv[0].endswith("gate.py"):
    import torch
    frame = sys._getframe()
    while "all_cases" not in frame.f_locals:  # the gate's run(): where its outputs go
        frame = frame.f_back
    torch.save([], frame.f_locals["out"])
    os._exit(0)
"""

# Says "unsupported" where the gatekeeper reads the run's last line, writes no outputs, ends cleanly.
SAYS_UNSUPPORTED = """
import os, sys
if sys.argv[0].endswith("gate.py"):
    print('{"unsupported": "not an ATen op, honest"}', flush=True)
    os._exit(0)
"""
# An outputs file that calls every case unsupported (the cases found in the gate's own frame).
FILES_UNSUPPORTED = """
import os, sys
if sys.argv[0].endswith("gate.py"):
    import torch
    frame = sys._getframe()
    while "all_cases" not in frame.f_locals:
        frame = frame.f_back
    torch.save([{"unsupported": "forged"}] * len(frame.f_locals["all_cases"]), frame.f_locals["out"])
    os._exit(0)
"""


@pytest.fixture
def keeper():
    keeper = Gatekeeper("cpu", timeout=600, confinement=Confinement(), at_once=1)
    yield keeper
    keeper.close()


def operator(tmp_path, name, code):
    return write_json(tmp_path / f"{name}.json", operator_json(name, code=code, test=None))


def test_each_verdict_is_its_own_whatever_the_operators_checked_beside_it(tmp_path, keeper):
    forged = operator(tmp_path, "relu_v2", FORGER + HONEST.replace("def relu(", "def relu_v2("))
    honest = operator(tmp_path, "relu", HONEST)
    strided = operator(tmp_path, "relu_v3", HONEST.replace("def relu(", "def relu_v3(").replace(
        "out = torch.empty_like(x)", "out = torch.empty(x.shape, dtype=x.dtype, device=x.device)"))  # fmt: skip
    for path in (forged, honest, strided):
        keeper.start(path, CONFIGS)
    assert finding(keeper.verdict(forged, CONFIGS)).startswith("the tool's own check could not finish: compare: ")
    verdict = keeper.verdict(honest, CONFIGS)
    assert verdict["checked"] > 0 and finding(verdict) is None
    assert "non-contiguous" in finding(keeper.verdict(strided, CONFIGS))
    assert keeper.started == 3


def test_a_check_asked_for_twice_runs_once_and_dead_referees_and_spares_are_replaced(tmp_path, keeper):
    honest = operator(tmp_path, "relu", HONEST)
    first = keeper.verdict(honest, CONFIGS)
    assert keeper.verdict(honest, CONFIGS) is first and keeper.started == 1
    assert len(keeper._spares) == keeper.at_once  # noqa: SLF001 - warm for the next check, from the first on
    for referee in keeper.referees:  # the one that compared, killed from outside
        if referee._process is not None:  # noqa: SLF001
            os.kill(referee._process.pid, signal.SIGKILL)  # noqa: SLF001
            referee._process.wait()  # noqa: SLF001
    keeper.tests_over(checks_left=2)  # only the gate is left: still one per check at once
    assert len(keeper._spares) == keeper.at_once  # noqa: SLF001
    for spare in keeper._spares:  # noqa: SLF001 - killed while waiting for the next operators
        spare.process.kill()
        spare.process.wait()
    again = keeper.verdict(operator(tmp_path, "relu_v4", HONEST.replace("def relu(", "def relu_v4(")), CONFIGS)
    assert again["checked"] == first["checked"] > 0 and finding(again) is None


@pytest.mark.parametrize("forger", [SAYS_UNSUPPORTED, FILES_UNSUPPORTED], ids=["stdout", "outputs-file"])
def test_an_operator_cannot_declare_its_own_check_unsupported(tmp_path, keeper, forger):
    """Only the referee says whether an op can be checked (from its ATen schema): an operator
    that says so itself is blocked, not waved through as "not checked"."""
    path = operator(tmp_path, "relu_v5", forger + HONEST.replace("def relu(", "def relu_v5("))
    verdict = keeper.verdict(path, CONFIGS)
    assert verdict.get("unsupported") is None
    assert finding(verdict).startswith("the tool's own check could not finish: compare: ")


def test_the_tests_end_counts_the_checks_still_running(tmp_path, keeper):
    """session.json timing: how many checks the end of the tests found unfinished (what the wait
    for the gate is made of)."""
    keeper.verdict(operator(tmp_path, "relu", HONEST), CONFIGS)  # done before the tests end
    keeper.start(operator(tmp_path, "relu_v6", HONEST.replace("def relu(", "def relu_v6(")), CONFIGS)
    keeper.tests_over(checks_left=2)  # a check runs its cases for seconds: not done an instant later
    assert keeper.unfinished_at_tests_end == 1
    keeper.tests_over(checks_left=2)  # asked again: the first answer stands
    assert keeper.unfinished_at_tests_end == 1
