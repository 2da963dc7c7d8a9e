"""Malformed and hostile inputs against every file kind and the command line's front ends
(issue 16), property-based: whatever the input, no traceback, a usage/input exit status, and
nothing written or changed.

Each input starts from a valid file of its kind (the examples' files, and files the tool writes)
and is damaged: a value somewhere replaced by arbitrary JSON, a key removed, the document cut
short, wrapped in a BOM, re-encoded as UTF-16, given a NUL byte or a lone surrogate, nested deep.
``validate`` sees every kind; ``select`` the perf files; ``import`` the selected file, the session
file and the checkout's ``_metadata.json``. The plugin's own handling of a broken operator file is
tested in tests/plugin (a malformed file fails alone).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import EXAMPLES, session_json, write_json
from pytest_flaggems_import.cli import main

# per front end and file kind; docs/reference.md says how many a CI run tries (make mutation: 10 a mutant)
EXAMPLES_RUN = int(os.environ.get("FLAGGEMS_FUZZ_EXAMPLES", "100"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a JSON document."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replaced(document: Any, path: tuple, new: Any, delete: bool) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(document))
    holder = copy
    for step in path[:-1]:
        holder = holder[step]
    if delete and isinstance(holder, dict):
        holder.pop(path[-1], None)
    else:
        holder[path[-1]] = new
    return copy


@st.composite
def damaged(draw: st.DrawFn, valid: Any) -> bytes:
    """``valid`` (a JSON document) damaged in one of the ways that broke the tool before."""
    how = draw(st.sampled_from(["value", "delete", "truncate", "bom", "utf16", "nul", "surrogate", "deep", "empty"]))
    text = json.dumps(valid)
    if how in ("value", "delete"):
        path = draw(st.sampled_from(_paths(valid)))
        text = json.dumps(_replaced(valid, path, draw(json_values), how == "delete"), allow_nan=True)
    elif how == "truncate":
        text = text[: draw(st.integers(min_value=0, max_value=max(0, len(text) - 1)))]
    elif how == "deep":
        depth = draw(st.integers(min_value=60, max_value=5000))
        text = "[" * depth + "]" * depth
    elif how == "empty":
        text = draw(st.sampled_from(["", " ", "null", "[]", "{}", "0", '"x"']))
    data = text.encode("utf-8")
    if how == "bom":
        data = b"\xef\xbb\xbf" + data
    elif how == "utf16":
        data = text.encode("utf-16")
    elif how == "nul":
        at = draw(st.integers(min_value=0, max_value=len(data)))
        data = data[:at] + b"\x00" + data[at:]
    elif how == "surrogate":
        data = data.replace(b"{", b'{"\\ud800": 1, ', 1) if b"{" in data else b'"\\udfff"'
    return data


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> int:
    """``main`` itself: an exception escaping it is the traceback this test looks for."""
    status = main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return status


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The examples, a selected file and a session written by the tool, a checkout with metadata."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(EXAMPLES, root / "ex")
    ex = root / "ex"
    assert main(["select", "--batch", "1", "--your-data", str(ex / "your_perf_data.json"), "--flaggems-data",
                 str(ex / "flaggems_perf_data.json"), "--output", str(root / "sel") + "/", "--quiet"]) == 0  # fmt: skip
    write_json(root / "sel" / "session.json", session_json({"gelu": (13, 0), "silu": (9, 0)}))
    return root


VALID = {
    "operator": lambda ws: json.loads((ws / "ex" / "operator_data" / "batch1" / "gelu.json").read_text()),
    "your_perf": lambda ws: json.loads((ws / "ex" / "your_perf_data.json").read_text()),
    "flaggems_perf": lambda ws: json.loads((ws / "ex" / "flaggems_perf_data.json").read_text()),
    "selected": lambda ws: json.loads((ws / "sel" / "selected_batch1.json").read_text()),
}
FUZZ = settings(max_examples=EXAMPLES_RUN, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                                  HealthCheck.too_slow])  # fmt: skip


@pytest.mark.parametrize("kind", sorted(VALID))
def test_validate_any_damaged_file_is_an_input_error_or_valid(workspace, tmp_path, capsys, kind):
    valid = VALID[kind](workspace)

    @FUZZ
    @given(data=damaged(valid))
    def check(data: bytes) -> None:
        target = tmp_path / f"{kind}.json"
        target.write_bytes(data)
        assert run_cli(capsys, ["validate", "--kind", kind, str(target)]) in (0, 2)

    check()


@pytest.mark.parametrize("which", ["your_perf", "flaggems_perf"])
def test_select_with_a_damaged_perf_file_exits_2_and_writes_nothing_or_a_valid_file(workspace, tmp_path, capsys, which):
    valid = VALID[which](workspace)
    ex = workspace / "ex"

    @FUZZ
    @given(data=damaged(valid))
    def check(data: bytes) -> None:
        perf = tmp_path / f"{which}.json"
        perf.write_bytes(data)
        out = tmp_path / "out"
        shutil.rmtree(out, ignore_errors=True)
        your = perf if which == "your_perf" else ex / "your_perf_data.json"
        theirs = perf if which == "flaggems_perf" else ex / "flaggems_perf_data.json"
        status = run_cli(capsys, ["select", "--batch", "1", "--your-data", str(your), "--flaggems-data", str(theirs),
                                  "--output", f"{out}/", "--quiet"])  # fmt: skip
        assert status in (0, 2)
        if status == 2:
            assert not out.exists() or not any(out.iterdir())
        else:
            assert run_cli(capsys, ["validate", "--kind", "selected", str(out / "selected_batch1.json")]) == 0

    check()


@pytest.mark.parametrize("which", ["selected", "session", "metadata"])
def test_import_with_a_damaged_input_changes_nothing_in_the_checkout(workspace, tmp_path, capsys, which):
    ex = workspace / "ex"
    checkout = tmp_path / "checkout"
    shutil.copytree(ex / "flaggems_checkout", checkout)
    sel = tmp_path / "sel"
    shutil.copytree(workspace / "sel", sel)
    # A first, good import gives the checkout a _metadata.json to damage.
    args = ["import", "--selected", str(sel / "selected_batch1.json"), "--ops-dir", str(ex / "operator_data"),
            "--flaggems-root", str(checkout)]  # fmt: skip
    assert run_cli(capsys, args) == 0
    metadata = next(checkout.rglob("_metadata.json"))
    target = {"selected": sel / "selected_batch1.json", "session": sel / "session.json", "metadata": metadata}[which]
    valid = json.loads(target.read_text())
    pristine = target.read_bytes()

    @FUZZ
    @given(data=damaged(valid))
    def check(data: bytes) -> None:
        target.write_bytes(data)
        before = snapshot(checkout)
        status = run_cli(capsys, args)
        assert status in (0, 1, 2)
        if status != 0:
            assert snapshot(checkout) == before
        target.write_bytes(pristine)  # the next example starts from the good checkout again
        assert run_cli(capsys, args) == 0

    check()


def _plugin_damages(valid: dict[str, Any]) -> list[bytes]:
    """Each way of damaging an operator file, once (a hypothesis draw starts from the simplest
    documents, which the plugin rightly does not take for operator files at all)."""
    text = json.dumps(valid)
    documents = [{**valid, "code": 42}, {k: v for k, v in valid.items() if k != "code"}, {**valid, "test_func": ["x"]},
                 {**valid, "params": "x"}, {**valid, "info": {"total": -1}}, {**valid, "op_name": "aten::../../evil"},
                 {**valid, "op_name": "sys"}, {**valid, "category": "__pycache__"}, {**valid, "entry": "__init__"},
                 {**valid, "code": "def gelu(:\n"}, {**valid, "code": "raise SystemExit(3)\n"}]  # fmt: skip
    raw = [json.dumps(d).encode() for d in documents]
    raw += [text[: len(text) // 2].encode(), b"\xef\xbb\xbf" + text.encode(), text.encode("utf-16"),
            text.encode()[:40] + b"\x00" + text.encode()[40:], text.replace("{", '{"\\ud800": 1, ', 1).encode(),
            b"[" * 5000 + b"]" * 5000, b"", b"{"]  # fmt: skip
    return raw


@pytest.mark.subprocess
def test_the_plugin_screens_damaged_operator_files_each_failing_alone(pytester, workspace):
    """The plugin front end: every way of damaging an operator file, beside a good operator, in
    one screening run. Each damaged file fails alone (never an INTERNALERROR), the good operator
    is still selected, and the session file is written."""
    valid = VALID["operator"](workspace)
    ops = pytester.mkdir("ops")
    for i, data in enumerate(_plugin_damages({**valid, "op_name": "gelu_v2"})):
        (ops / f"damaged_{i:02d}.json").write_bytes(data.replace(b"gelu_v2", f"gelu_v{i + 2}".encode()))
    shutil.copy(workspace / "ex" / "operator_data" / "batch1" / "gelu.json", ops / "gelu.json")
    shutil.copy(workspace / "ex" / "your_perf_data.json", pytester.path / "your_perf_data.json")
    shutil.copy(workspace / "ex" / "flaggems_perf_data.json", pytester.path / "flaggems_perf_data.json")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cpu",
                                           "--flaggems-batch=1", "--flaggems-report-dir=out")  # fmt: skip
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text and "Traceback (most recent call last)" not in result.stderr.str(), text[-3000:]
    assert result.ret == 1, text[-3000:]  # the damaged files' items failed
    assert text.count("damaged_") >= 15, text[-3000:]  # each reported, by file
    session = json.loads((pytester.path / "out" / "session.json").read_text())
    assert session["operators"]["gelu"]["blocked"] is None, session["operators"]["gelu"]
    assert "gelu" in json.loads((pytester.path / "out" / "selected_batch1.json").read_text())["operators"]
