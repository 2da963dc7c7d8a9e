"""Schemas and semantic checks: every problem names the file and the JSON path."""

import json

import pytest

from helpers import operator_json, perf, write_json
from pytest_flaggems_import.core import formats
from pytest_flaggems_import.errors import InputError, InputErrors


def problems(kind, data, tmp_path, name="f.json"):
    path = write_json(tmp_path / name, data)
    return [str(p) for p in formats.validate(kind, json.loads(path.read_text()), path)]


def test_valid_operator_and_perf_files_have_no_problems(tmp_path, examples):
    for path in (examples / "operator_data").rglob("*.json"):
        assert formats.validate("operator", json.loads(path.read_text()), path) == []
    assert formats.validate("your_perf", json.loads((examples / "your_perf_data.json").read_text()), "y") == []


def test_missing_code_names_file_and_path(tmp_path):
    [msg] = problems("operator", {"op_name": "aten::gelu"}, tmp_path, "gelu.json")
    assert msg.startswith(f"{tmp_path / 'gelu.json'}: $: ") and "'code'" in msg


def test_unknown_keys_are_kept_and_ignored(tmp_path):
    assert problems("operator", operator_json(generator="gpt", notes=[1, 2]), tmp_path) == []


def test_bad_dtype_and_negative_time_are_located(tmp_path):
    data = perf({"gelu": [([8], "fp12", 1.0, 1.0)], "relu": [([8], "fp16", -1.0, 1.0)]})
    found = problems("your_perf", data, tmp_path)
    assert any("$.relu.configs[0].your_time" in p and "> 0" in p for p in found)
    data = perf({"gelu": [([8], "fp12", 1.0, 1.0)]})
    [msg] = problems("your_perf", data, tmp_path)
    assert "$.gelu.configs[0].dtype" in msg and "fp12" in msg


def test_infinite_time_is_reported_as_not_finite(tmp_path):
    path = tmp_path / "your_perf_data.json"
    path.write_text('{"gelu": {"configs": [{"shape": [8], "dtype": "fp16", "your_time": Infinity, "cuda_time": 1}]}}')
    with pytest.raises(InputErrors, match=r"\$\.gelu\.configs\[0\]\.your_time: expected a finite number > 0"):
        formats.load_perf(path, "your_perf")


def test_duplicate_shape_and_dtype_in_other_spelling_is_an_error(tmp_path):
    data = perf({"gelu": [([8, 8], "float16", 1.0, 1.0), ([8, 8], "fp16", 2.0, 1.0)]})
    [msg] = problems("your_perf", data, tmp_path)
    assert "$.gelu.configs[1]" in msg and "duplicate" in msg and "configs[0]" in msg


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "gelu.json"
    path.write_text('{"op_name": "gelu",\n "code": }')
    with pytest.raises(InputError, match=r"gelu.json: invalid JSON at line 2 column"):
        formats.load_operator(path)


def test_dtypes_are_canonical_after_loading(tmp_path):
    path = write_json(tmp_path / "p.json", perf({"gelu": [([8], "torch.bfloat16", 1.0, 2.0)]}))
    assert formats.load_perf(path, "your_perf")["gelu"][0].dtype == "bfloat16"


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("your_perf_data.json", {}, "your_perf"),
        ("x.json", {"op_name": "a", "code": "b"}, "operator"),
        ("x.json", {"gelu": {"configs": [{"flaggems_time": 1}]}}, "flaggems_perf"),
        ("selected_batch2.json", {}, "selected"),
        ("x.json", {"version": "1", "ops": {}}, "metadata"),
    ],
)
def test_kind_is_detected_from_name_or_content(name, data, kind):
    assert formats.detect_kind(name, data) == kind


def test_file_named_after_another_op_is_a_warning(tmp_path):
    spec = formats.operator_from_data(operator_json("aten::gelu"), tmp_path / "relu.json")
    assert "does not match" in formats.operator_warnings(spec)[0]


def test_batch_folder_is_read_from_the_path(tmp_path):
    spec = formats.operator_from_data(operator_json("gelu"), tmp_path / "operator_data" / "batch2" / "gelu.json")
    assert spec.folder_batch == 2


# -- found by the mutation run (docs/testing.md) ----------------------------------------------
def test_a_wrong_type_where_several_are_allowed_names_them_all(tmp_path):
    selected = {"batch": 1, "threshold": 1.3, "criterion": "speedup_vs_flaggems", "total_operators": 1,
                "total_configs": 0, "operators": {"gelu": {"avg_speedup_vs_flaggems": "fast", "avg_relative_to_cuda": 0.5,
                                                           "configs": []}}}  # fmt: skip
    [msg] = problems("selected", selected, tmp_path, "selected_batch1.json")
    assert msg.endswith("$.operators.gelu.avg_speedup_vs_flaggems: expected number or null, got str 'fast'"), msg


def test_a_non_finite_cuda_time_is_named_with_the_file(tmp_path):
    data = {"gelu": {"configs": [{"shape": [8], "dtype": "float32", "your_time": 1.0, "cuda_time": float("inf")}]}}
    found = problems("your_perf", data, tmp_path, "your_perf_data.json")
    assert f"{tmp_path / 'your_perf_data.json'}: $.gelu.configs[0].cuda_time: expected a finite number > 0, got inf" in found


def test_perf_entries_of_the_wrong_shape_are_reported_not_crashed_on(tmp_path):
    data = {"bad": ["not", "an", "object"], "gelu": {"configs": [
        {"shape": [8], "dtype": "fp99", "your_time": 1.0, "cuda_time": 1.0},
        {"shape": "8", "dtype": "float32", "your_time": 1.0, "cuda_time": 1.0},
        {"shape": [8], "dtype": "float32", "your_time": 1.0, "cuda_time": 1.0},
        {"shape": [8], "dtype": "fp32", "your_time": 2.0, "cuda_time": 1.0},
    ]}}  # fmt: skip
    found = problems("your_perf", data, tmp_path, "your_perf_data.json")
    where = f"{tmp_path / 'your_perf_data.json'}: "
    assert any(p.startswith(where + "$.bad:") for p in found), found
    assert any(p.startswith(where + "$.gelu.configs[0].dtype: unknown dtype 'fp99'") for p in found), found
    # the unknown dtype and the string shape before it do not stop the duplicate check after them
    assert where + "$.gelu.configs[3]: duplicate configuration shape=[8] dtype=float32 (first at configs[2])" in found


def test_a_loaded_operator_knows_its_file(tmp_path):
    path = write_json(tmp_path / "gelu.json", operator_json("aten::gelu"))
    spec = formats.load_operator(path)
    assert spec.path == path and spec.op == "gelu"


def test_cross_warnings_name_each_side():
    from pytest_flaggems_import.core.formats import PerfConfig

    row = (PerfConfig((8,), "float32", 1.0, 1.0),)
    warnings = formats.cross_warnings(["gelu", "relu"], {"gelu": row, "silu": row}, {"gelu": row, "tanh": row})
    assert warnings == ["your_perf_data: 'silu' has no operator file", "operator 'relu' has no entry in your_perf_data",
                        "flaggems_perf_data: 'tanh' is not in your_perf_data"]  # fmt: skip
    assert formats.cross_warnings(["gelu"], None, {"tanh": row}) == []


def test_a_file_named_after_another_operator_is_warned_about(tmp_path):
    spec = formats.operator_from_data(operator_json("aten::gelu"), tmp_path / "relu.json")
    assert formats.operator_warnings(spec) == [f"{tmp_path / 'relu.json'}: file name 'relu' does not match op_name 'aten::gelu'"]
    assert formats.operator_warnings(formats.operator_from_data(operator_json("aten::gelu"), tmp_path / "gelu.json")) == []
