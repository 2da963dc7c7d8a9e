"""The installed ``flaggems-import`` console script, run as a user runs it: a new process, its
exit status, what it prints, what it leaves on disk. (test_cli.py runs ``main()`` in-process for
the finer cases.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import perf, session_json, write_json

SCRIPT = Path(sys.executable).with_name("flaggems-import")
pytestmark = pytest.mark.subprocess


def flaggems_import(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "pytest_flaggems_import"]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, check=False)


@pytest.fixture
def ops(tmp_path, examples):
    """A copy of the examples: operators, both perf files and the FlagGems-shaped checkout."""
    shutil.copytree(examples, tmp_path / "ex")
    return tmp_path / "ex"


def select(ex: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return flaggems_import("select", "--batch", "auto", "--your-data", ex / "your_perf_data.json",
                           "--flaggems-data", ex / "flaggems_perf_data.json", "--output", f"{out}/")  # fmt: skip


def test_exit_0_select_writes_both_batches(ops, tmp_path):
    proc = select(ops, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "batch 1: 2 of 3 selected" in proc.stdout
    batch1 = json.loads((tmp_path / "out" / "selected_batch1.json").read_text())
    assert list(batch1["operators"]) == ["gelu", "silu"]


def test_exit_2_bad_perf_file_names_file_and_path_and_leaves_the_output_untouched(ops, tmp_path):
    assert select(ops, tmp_path / "out").returncode == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    data = json.loads((ops / "your_perf_data.json").read_text())
    data["gelu"]["configs"][1]["your_time"] = -0.2
    (ops / "your_perf_data.json").write_text(json.dumps(data))
    proc = select(ops, tmp_path / "out")
    assert proc.returncode == 2
    path = ops / "your_perf_data.json"
    assert f"error: {path}: $.gelu.configs[1].your_time: expected a number > 0" in proc.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before


def test_exit_2_validate_broken_files_of_each_kind(tmp_path):
    files = {
        "operator": write_json(tmp_path / "gelu.json", {"op_name": "aten::gelu", "code": ["not", "text"]}),
        "your_perf": write_json(tmp_path / "your_perf_data.json", perf({"gelu": [([8], "fp12", 0.5, 1.0)]})),
        "flaggems_perf": write_json(tmp_path / "flaggems_perf_data.json", {"gelu": {"configs": [{"shape": [8]}]}}),
        "selected": write_json(tmp_path / "selected_batch1.json", {"batch": 1, "operators": []}),
        "metadata": write_json(tmp_path / "_metadata.json", {"version": "1", "ops": {"gelu": 3}}),
    }
    proc = flaggems_import("validate", *files.values())
    assert proc.returncode == 2
    for kind, path in files.items():
        assert f"FAIL {path} ({kind})" in proc.stdout
    assert f"{files['operator']}: $.code: expected string" in proc.stderr
    assert f"{files['your_perf']}: $.gelu.configs[0].dtype: unknown dtype 'fp12'" in proc.stderr
    assert f"{files['flaggems_perf']}: $.gelu.configs[0]: 'dtype' is a required property" in proc.stderr
    assert f"{files['selected']}: $.operators" in proc.stderr
    assert f"{files['metadata']}: $.ops.gelu" in proc.stderr
    assert "5 files checked" in proc.stdout


def test_exit_0_validate_the_examples(examples):
    proc = flaggems_import("validate", examples / "operator_data", examples / "your_perf_data.json",
                           examples / "flaggems_perf_data.json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "0 problems" in proc.stdout


def test_exit_1_import_refuses_changed_code_and_leaves_the_checkout_as_it_was(ops, tmp_path):
    assert select(ops, tmp_path / "out").returncode == 0
    write_json(tmp_path / "out" / "session.json", session_json({"gelu": (13, 0), "silu": (9, 0)}))
    checkout = ops / "flaggems_checkout"
    selected = tmp_path / "out" / "selected_batch1.json"
    args = ("import", "--selected", selected, "--ops-dir", ops / "operator_data", "--flaggems-root", checkout)
    first = flaggems_import(*args)
    assert first.returncode == 0, first.stderr
    written = {p: p.read_bytes() for p in checkout.rglob("*") if p.is_file()}
    gelu = ops / "operator_data" / "batch1" / "gelu.json"
    data = json.loads(gelu.read_text())
    data["code"] += "\n# regenerated\n"
    gelu.write_text(json.dumps(data))
    second = flaggems_import(*args)
    assert second.returncode == 1
    assert "gelu" in second.stdout + second.stderr and "--force" in second.stdout + second.stderr
    assert {p: p.read_bytes() for p in checkout.rglob("*") if p.is_file()} == written
