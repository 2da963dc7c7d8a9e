"""``flaggems-import`` contract fixes (issue 10): evidence before import, outputs of one batch only,
the spec's option names, help that says what the CLI does."""

from __future__ import annotations

import json
import shutil

import pytest

from helpers import EXAMPLES, session_json, write_json
from pytest_flaggems_import.cli import build_parser, main

SEED_GELU_TEST_FAILS = session_json({"gelu": (0, 1), "silu": (9, 0)})


@pytest.fixture
def ex(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    return tmp_path / "ex"


def select_auto(ex, out):
    return main(["select", "--batch", "auto", "--your-data", str(ex / "your_perf_data.json"),
                 "--flaggems-data", str(ex / "flaggems_perf_data.json"), "--output", f"{out}/", "--quiet"])  # fmt: skip


def import_(ex, selected, *extra):
    return main(["import", "--selected", str(selected), "--ops-dir", str(ex / "operator_data"),
                 "--flaggems-root", str(ex / "flaggems_checkout"), *extra])  # fmt: skip


def files(root):
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_import_without_a_session_is_refused_and_says_how_to_get_evidence(ex, tmp_path, capsys):
    assert select_auto(ex, tmp_path / "out") == 0
    before = files(ex / "flaggems_checkout")
    assert import_(ex, tmp_path / "out" / "selected_batch1.json") == 1
    out = capsys.readouterr().out
    assert "gelu" in out and "no test evidence: no session file at" in out
    assert "pytest --flaggems-ops=DIR" in out and "--allow-untested" in out
    assert files(ex / "flaggems_checkout") == before


def test_import_refuses_an_operator_whose_tests_failed_even_with_allow_untested(ex, tmp_path, capsys):
    assert select_auto(ex, tmp_path / "out") == 0
    write_json(tmp_path / "out" / "session.json", SEED_GELU_TEST_FAILS)
    before = files(ex / "flaggems_checkout")
    assert import_(ex, tmp_path / "out" / "selected_batch1.json", "--allow-untested") == 1
    assert "gelu                     refused: tests failed: 1 of 1" in capsys.readouterr().out
    assert files(ex / "flaggems_checkout") == before


def test_allow_untested_imports_and_records_it(ex, tmp_path, capsys):
    assert select_auto(ex, tmp_path / "out") == 0
    assert import_(ex, tmp_path / "out" / "selected_batch1.json", "--allow-untested") == 0
    assert "**untested** (imported with --allow-untested)" in capsys.readouterr().out
    meta = json.loads((ex / "flaggems_checkout/src/flag_gems/experimental/generated/_metadata.json").read_text())
    assert meta["ops"]["gelu"]["validation_info"]["untested"] is True
    assert "no session file" in meta["ops"]["gelu"]["validation_info"]["note"]


def test_session_option_points_at_the_evidence(ex, tmp_path):
    assert select_auto(ex, tmp_path / "out") == 0
    session = write_json(tmp_path / "elsewhere" / "s.json", session_json({"gelu": (13, 0), "silu": (9, 0)}))
    assert import_(ex, tmp_path / "out" / "selected_batch1.json", "--session", str(session)) == 0
    meta = json.loads((ex / "flaggems_checkout/src/flag_gems/experimental/generated/_metadata.json").read_text())
    assert meta["ops"]["gelu"]["validation_info"] == {"total": 13, "passed": 13}


def test_select_one_batch_into_a_folder_leaves_the_other_batch_alone(ex, tmp_path):
    out = tmp_path / "out"
    assert main(["select", "--batch", "2", "--your-data", str(ex / "your_perf_data.json"),
                 "--output", f"{out}/", "--quiet"]) == 0  # fmt: skip
    batch2 = (out / "selected_batch2.json").read_bytes()
    assert main(["select", "--batch", "1", "--your-data", str(ex / "your_perf_data.json"), "--flaggems-data",
                 str(ex / "flaggems_perf_data.json"), "--output", f"{out}/", "--quiet"]) == 0  # fmt: skip
    assert (out / "selected_batch2.json").read_bytes() == batch2
    assert json.loads((out / "selected_batch1.json").read_text())["batch"] == 1


@pytest.mark.parametrize("flag", ["--flaggems-layout", "--layout"])
def test_layout_option_takes_the_specs_name_and_the_short_one(ex, tmp_path, flag, capsys):
    assert select_auto(ex, tmp_path / "out") == 0
    write_json(tmp_path / "out" / "session.json", session_json({"gelu": (13, 0), "silu": (9, 0)}))
    assert import_(ex, tmp_path / "out" / "selected_batch1.json", flag, "generated", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "(generated layout: --flaggems-layout): dry run" in out


def test_help_is_plain_text_and_required_options_show_no_default():
    parser = build_parser()
    top = parser.format_help()
    assert "``" not in top and "Validate operator and perf files" in top
    sub = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps them there
    select_help = " ".join(sub["select"].format_help().split())
    assert "beside the ops folder" not in select_help
    assert "your_perf_data.json (required)" in select_help


def test_validate_reports_a_nan_and_every_other_problem_of_the_file_in_one_run(tmp_path, capsys):
    path = tmp_path / "your_perf_data.json"
    path.write_text(
        '{"a": {"configs": [{"shape": [1], "dtype": "fp16", "your_time": NaN, "cuda_time": 1},'
        ' {"shape": [2], "dtype": "fp99", "your_time": 1, "cuda_time": 1},'
        ' {"shape": [3], "dtype": "fp16", "your_time": -1, "cuda_time": 1},'
        ' {"shape": [3], "dtype": "half", "your_time": 1, "cuda_time": 1}]}}'
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "$.a.configs[0].your_time: expected a finite number > 0, got nan" in err
    assert "$.a.configs[1].dtype: unknown dtype 'fp99'" in err
    assert "$.a.configs[2].your_time: expected a number > 0" in err
    assert "$.a.configs[3]: duplicate configuration shape=[3] dtype=float16" in err
    assert err.count("error: ") == 4


@pytest.mark.parametrize("allow", [[], ["--allow-implausible"]])
def test_select_writes_only_files_its_own_validate_accepts_even_for_sub_microsecond_times(tmp_path, allow):
    your = tmp_path / "your_perf_data.json"
    your.write_text(json.dumps({
        "gelu": {"configs": [{"shape": [8], "dtype": "float32", "your_time": 5e-324, "cuda_time": 1.0}]},
        "relu": {"configs": [{"shape": [8], "dtype": "float32", "your_time": 0.0004, "cuda_time": 0.0004}]},
    }))  # fmt: skip
    out = tmp_path / "out"
    assert main(["select", "--batch", "2", "--your-data", str(your), "--output", f"{out}/", "--quiet", *allow]) == 0
    assert main(["validate", str(out / "selected_batch2.json")]) == 0
    chosen = json.loads((out / "selected_batch2.json").read_text())
    assert ("gelu" in chosen["operators"]) is bool(allow)  # 2e323x faster than CUDA: implausible unless allowed
    assert "relu" in chosen["operators"]
