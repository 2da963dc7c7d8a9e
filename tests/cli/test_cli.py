"""``flaggems-import`` in-process (``main()``) for the finer cases; test_console_script.py runs the
installed script in a new process for each exit status."""

import json

import pytest

from helpers import operator_json, perf, write_json
from pytest_flaggems_import.cli import main


@pytest.fixture
def perf_files(tmp_path):
    your = write_json(tmp_path / "your_perf_data.json", perf({
        "gelu": [([256, 256], "float32", 0.5, 1.0)], "huber_loss": [([8], "fp16", 0.9, 1.0)],
        "relu": [([8], "fp16", 1.0, 1.0)],
    }))  # fmt: skip
    fg = write_json(tmp_path / "flaggems_perf_data.json", perf({
        "gelu": [([256, 256], "float32", 0.7, 1.0)], "relu": [([8], "float16", 1.1, 1.0)],
    }, key="flaggems_time"))  # fmt: skip
    return your, fg


def test_select_batch1_writes_the_seed_example(perf_files, tmp_path, capsys):
    your, fg = perf_files
    out = tmp_path / "selected_batch1.json"
    assert (
        main(["select", "--batch", "1", "--your-data", str(your), "--flaggems-data", str(fg), "--output", str(out)])
        == 0
    )
    data = json.loads(out.read_text())
    assert list(data["operators"]) == ["gelu"]
    assert data["operators"]["gelu"]["avg_speedup_vs_flaggems"] == 1.4
    assert "relu" in data["rejected"] and "1.100x < 1.3x" in data["rejected"]["relu"]
    assert "batch 1: 1 of" in capsys.readouterr().out


def test_select_auto_into_a_folder_writes_both_batches(perf_files, tmp_path):
    your, fg = perf_files
    out = tmp_path / "out"
    code = main(["select", "--batch", "auto", "--your-data", str(your), "--flaggems-data", str(fg),
                 "--output", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    assert list(json.loads((out / "selected_batch2.json").read_text())["operators"]) == ["huber_loss"]


def test_a_perf_files_own_keys_are_kept_but_never_contradict_the_numbers(perf_files, tmp_path):
    your, fg = perf_files
    data = json.loads(your.read_text())
    data["gelu"]["configs"][0].update(flaggems_time=99.0, relative_to_cuda=42.0, note="warm cache")
    your.write_text(json.dumps(data))
    out = tmp_path / "selected_batch1.json"
    assert main(["select", "--batch", "1", "--your-data", str(your), "--flaggems-data", str(fg),
                 "--output", str(out), "--quiet"]) == 0  # fmt: skip
    [row] = json.loads(out.read_text())["operators"]["gelu"]["configs"]
    assert (row["flaggems_time"], row["speedup_vs_flaggems"], row["relative_to_cuda"]) == (0.7, 1.4, 0.5)
    assert row["note"] == "warm cache"


def test_select_threshold_and_aggregate_change_the_decision(perf_files, tmp_path):
    your, fg = perf_files
    out = tmp_path / "s.json"
    args = ["select", "--batch", "1", "--your-data", str(your), "--flaggems-data", str(fg), "--output", str(out)]
    assert main([*args, "--threshold", "1.05", "--aggregate", "worst", "--quiet"]) == 0
    assert set(json.loads(out.read_text())["operators"]) == {"gelu", "relu"}


def test_select_json_prints_decisions(perf_files, tmp_path, capsys):
    your, _ = perf_files
    assert (
        main(["select", "--batch", "2", "--your-data", str(your), "--output", str(tmp_path / "s.json"), "--json"]) == 0
    )
    decisions = json.loads(capsys.readouterr().out)
    assert {d["op"]: d["selected"] for d in decisions} == {"gelu": True, "huber_loss": True, "relu": True}


def test_bad_perf_file_exits_2_names_the_path_and_leaves_output_untouched(perf_files, tmp_path, capsys):
    your, fg = perf_files
    data = json.loads(your.read_text())
    data["gelu"]["configs"][0]["dtype"] = "fp12"
    your.write_text(json.dumps(data))
    out = tmp_path / "selected_batch1.json"
    out.write_text("previous content")
    assert (
        main(["select", "--batch", "1", "--your-data", str(your), "--flaggems-data", str(fg), "--output", str(out)])
        == 2
    )
    err = capsys.readouterr().err
    assert f"{your}: $.gelu.configs[0].dtype: unknown dtype 'fp12'" in err
    assert out.read_text() == "previous content"


def test_single_threshold_with_auto_is_a_usage_error(perf_files, tmp_path, capsys):
    your, _ = perf_files
    assert (
        main(["select", "--batch", "auto", "--your-data", str(your), "--threshold", "1.5", "--output", str(tmp_path)])
        == 2
    )
    assert "T1,T2" in capsys.readouterr().err


def test_unknown_batch_is_a_usage_error(perf_files, tmp_path, capsys):
    your, _ = perf_files
    assert main(["select", "--batch", "3", "--your-data", str(your), "--output", str(tmp_path / "x.json")]) == 2
    assert "--batch: expected one of 1, 2, auto, got '3'" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_validate_each_kind_good_and_broken(tmp_path, examples, capsys):
    assert main(["validate", str(examples)]) == 0
    broken = write_json(tmp_path / "gelu.json", {"op_name": "gelu", "code": 3})
    meta = write_json(tmp_path / "_metadata.json", {"version": "1", "ops": {}})
    sel = write_json(tmp_path / "selected_batch1.json", {"batch": 3})
    capsys.readouterr()
    assert main(["validate", str(broken), str(meta), str(sel)]) == 2
    err = capsys.readouterr().err
    assert f"{broken}: $.code: expected string" in err
    assert f"{meta}: $: 'last_updated' is a required property" in err
    assert f"{sel}: $.batch" in err


def test_validate_reports_every_problem_of_a_file(tmp_path, capsys):
    path = write_json(tmp_path / "your_perf_data.json", perf({"a": [([1], "fp99", 1, 1)], "b": [([1], "fp16", 0, 1)]}))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "$.b.configs[0].your_time" in err


def test_validate_operator_name_mismatch_is_a_warning_not_an_error(tmp_path, capsys):
    path = write_json(tmp_path / "relu.json", operator_json("aten::gelu"))
    assert main(["validate", str(path)]) == 0
    assert "does not match" in capsys.readouterr().err


def test_validate_lists_perf_entries_without_operator_files(tmp_path, capsys):
    write_json(tmp_path / "ops" / "gelu.json", operator_json("aten::gelu"))
    your = write_json(
        tmp_path / "your_perf_data.json", perf({"gelu": [([8], "fp16", 1, 1)], "ghost": [([8], "fp16", 1, 1)]})
    )
    assert main(["validate", str(tmp_path / "ops"), str(your)]) == 0
    assert "warning: your_perf_data: 'ghost' has no operator file" in capsys.readouterr().err
