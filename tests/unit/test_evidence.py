"""``importer.sources.evidence`` and the session file's entries it reads: what an operator's tests in
``session.json`` allow (SPEC 1: an operator that failed is never imported; one without passing
tests is not imported without ``--allow-untested``), word for word, for the plugin's current
session files and for those written before the ``blocked`` key."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import write_json
from pytest_flaggems_import.errors import InputError
from pytest_flaggems_import.importer.sources import Evidence, _check_session_entry, _session_for, evidence

SESSION = Path("/runs/a/session.json")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        # as the plugin writes them now: its decision is "blocked", and "evidence" says what kind
        ({"passed": 3, "failed": 0, "blocked": None}, Evidence({"total": 3, "passed": 3})),
        ({"passed": 2, "failed": 1, "blocked": None}, Evidence({"total": 3, "passed": 2})),  # the plugin's call
        ({"passed": 2, "failed": 1, "blocked": "tests failed: 1 of 3", "evidence": "failed"},
         Evidence({"total": 3, "passed": 2}, f"tests failed: 1 of 3 (in {SESSION})", failed=True)),
        ({"passed": 3, "failed": 0, "blocked": "the result was never computed by its kernel", "evidence": "failed"},
         Evidence({"total": 3, "passed": 3}, f"the result was never computed by its kernel (in {SESSION})", failed=True)),
        ({"passed": 3, "failed": 0, "blocked": "timed out", "evidence": "missing"},
         Evidence({"total": 3, "passed": 3}, f"timed out (in {SESSION})")),
        ({"passed": None, "failed": None, "blocked": "no passing test"},
         Evidence({"total": 0, "passed": 0}, f"no passing test (in {SESSION})")),
        # written before the "blocked" key: decided here from the counts
        ({"passed": 4, "failed": 0}, Evidence({"total": 4, "passed": 4})),
        ({"passed": 2, "failed": 1}, Evidence({"total": 3, "passed": 2}, f"tests failed: 1 of 3 (in {SESSION})", failed=True)),
        ({"passed": 0, "failed": 0}, Evidence({"total": 0, "passed": 0}, f"no passing test (in {SESSION})")),
        ({"passed": 0, "load_error": "SyntaxError: invalid syntax"},
         Evidence({"total": 0, "passed": 0}, f"SyntaxError: invalid syntax (in {SESSION})")),
        ({"passed": 2, "failed": 2, "load_error": "ImportError: x"},
         Evidence({"total": 4, "passed": 2}, f"ImportError: x (in {SESSION})", failed=True)),
    ],
)  # fmt: skip
def test_what_an_operators_session_entry_allows(entry, expected):
    assert evidence(entry, SESSION) == expected


def test_an_operator_the_session_never_saw_has_no_evidence():
    assert evidence(None, SESSION) == Evidence({"total": None, "passed": None}, f"no test evidence: not in {SESSION}")
    assert evidence(None, SESSION, session_found=False) == Evidence(
        {"total": None, "passed": None}, f"no test evidence: no session file at {SESSION}"
    )


@pytest.mark.parametrize(
    ("entry", "json_path", "message"),
    [
        ([1, 2], "$.operators.relu", "expected an object (an operator's outcome), got list"),
        ("passed", "$.operators.relu", "expected an object (an operator's outcome), got str"),
        ({"passed": -1}, "$.operators.relu.passed", "expected a count or null"),
        ({"passed": True}, "$.operators.relu.passed", "expected a count or null"),
        ({"failed": 1.0}, "$.operators.relu.failed", "expected a count or null"),
        ({"blocked": 3}, "$.operators.relu.blocked", "expected text or null"),
        ({"load_error": ["x"]}, "$.operators.relu.load_error", "expected text or null"),
        ({"evidence": False}, "$.operators.relu.evidence", "expected text or null"),
    ],
)
def test_a_session_entry_of_the_wrong_type_is_named_in_the_error(entry, json_path, message):
    with pytest.raises(InputError) as caught:
        _check_session_entry(SESSION, "relu", entry)
    assert (caught.value.path, caught.value.json_path, caught.value.message) == (str(SESSION), json_path, message)


def test_a_session_entry_as_the_plugin_writes_it_is_accepted():
    entry = {"passed": 0, "failed": 3, "blocked": "tests failed: 3 of 3", "load_error": None, "evidence": "failed",
             "other": {"anything": True}}  # fmt: skip
    _check_session_entry(SESSION, "relu", entry)


@pytest.mark.parametrize(
    ("session", "json_path", "message"),
    [
        ({"operators": []}, "$.operators", "expected the operators of a session written by the plugin"),
        ({"decisions": []}, "$.operators", "expected the operators of a session written by the plugin"),
        ({"operators": {"relu": 3}}, "$.operators.relu", "expected an object (an operator's outcome), got int"),
    ],
)
def test_a_session_file_the_plugin_did_not_write_is_named_in_the_error(tmp_path, session, json_path, message):
    path = write_json(tmp_path / "session.json", session)
    with pytest.raises(InputError) as caught:
        _session_for(tmp_path / "selected_batch1.json", None)  # the session beside the selected file
    assert (caught.value.path, caught.value.json_path, caught.value.message) == (str(path), json_path, message)


def test_without_a_session_file_beside_the_selected_one_there_is_no_evidence(tmp_path):
    assert _session_for(tmp_path / "selected_batch1.json", None) == (tmp_path / "session.json", None)
