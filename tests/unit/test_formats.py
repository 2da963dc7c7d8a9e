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


@pytest.mark.parametrize(("data", "kind"), [
    ({"op_name": "aten::gelu"}, "operator"), ({"code": "x = 1"}, "operator"),
    ({"operators": {}, "batch": 1}, "selected"), ({"ops": {}, "version": 1}, "metadata"),
    ({"operators": {}, "decisions": []}, "session"),
    ({"gelu": {"configs": [{"shape": [8], "dtype": "float32", "your_time": 1.0, "cuda_time": 1.0}]}}, "your_perf"),
    ({"gelu": {"configs": [{"shape": [8], "dtype": "float32", "flaggems_time": 1.0, "cuda_time": 1.0}]}}, "flaggems_perf"),
    ({"operators": {}}, None), ({"batch": 1}, None), ({"ops": {}}, None), ({"version": 1}, None),
    ({"decisions": []}, None), ({"gelu": [1, 2]}, None), ({"gelu": {"configs": []}}, None),
    ({"gelu": {"configs": [1]}}, None), ([1, 2], None),
])  # fmt: skip
def test_a_file_under_another_name_is_told_by_its_content(data, kind):
    assert formats.detect_kind("renamed.json", data) == kind


def test_json_paths_quote_keys_that_are_not_names():
    assert formats.json_path(["gelu", "configs", 3, "dtype"]) == "$.gelu.configs[3].dtype"
    assert formats.json_path(["add.Tensor", "configs", 0]) == '$["add.Tensor"].configs[0]'
    assert formats.json_path(["a b", "x"]) == '$["a b"].x'


def test_an_op_name_the_schema_takes_but_no_parser_does_is_named(tmp_path):
    [msg] = problems("operator", operator_json("aten::"), tmp_path, "bad.json")
    assert msg.startswith(f"{tmp_path / 'bad.json'}: $.op_name: ")


def test_an_operator_file_keeps_its_params_info_and_category(tmp_path):
    data = {**operator_json("aten::huber_loss", params={"reduction": "mean"}, info={"total": 3, "success": 3}),
            "category": "reduction"}  # fmt: skip
    spec = formats.operator_from_data(data, tmp_path / "huber_loss.json")
    assert (spec.params, spec.info, spec.category) == ({"reduction": "mean"}, {"total": 3, "success": 3}, "reduction")
    bare = formats.operator_from_data(operator_json("aten::gelu"), tmp_path / "gelu.json")
    assert (bare.params, bare.info, bare.category, bare.entry) == ({}, None, None, "gelu")
    assert formats.operator_from_data(operator_json("aten::gelu", entry="gelu_fast"), tmp_path / "g.json").entry == "gelu_fast"


def test_only_operator_files_are_collected_from_a_folder_and_a_broken_one_does_not_stop_it(tmp_path):
    for name, data in {"a_gelu.json": operator_json("aten::gelu"), "your_perf_data.json": {},
                       "flaggems_perf_data.json": {}, "session.json": {"operators": {}, "decisions": []},
                       "selected_batch1.json": {}, "_metadata.json": {}, "notes.json": {"what": "a note"},
                       "sub/z_relu.json": operator_json("aten::relu")}.items():  # fmt: skip
        write_json(tmp_path / name, data)
    (tmp_path / "b_broken.json").write_text("{")
    (tmp_path / "c_list.json").write_text('["op_name"]')
    found = [(p.relative_to(tmp_path).as_posix(), None if d is None else d["op_name"]) for p, d in formats.operator_files([tmp_path])]
    assert found == [("a_gelu.json", "aten::gelu"), ("b_broken.json", None), ("sub/z_relu.json", "aten::relu")]


def test_a_config_without_a_string_dtype_does_not_stop_the_duplicate_check(tmp_path):
    data = {"gelu": {"configs": [
        {"shape": [8], "dtype": 5, "your_time": 1.0, "cuda_time": 1.0},
        {"shape": [8], "dtype": "float32", "your_time": 1.0, "cuda_time": 1.0},
        {"shape": [8], "dtype": "fp32", "your_time": 2.0, "cuda_time": 1.0},
    ]}}  # fmt: skip
    found = problems("your_perf", data, tmp_path, "your_perf_data.json")
    assert any(p.endswith("$.gelu.configs[2]: duplicate configuration shape=[8] dtype=float32 (first at configs[1])") for p in found)


def test_load_errors_name_the_file_they_are_in(tmp_path):
    broken = tmp_path / "your_perf_data.json"
    broken.write_text('{"gelu": ')
    with pytest.raises(InputError) as caught:
        formats.load_perf(broken, "your_perf")
    assert str(caught.value).startswith(f"{broken}: invalid JSON")
    wrong = write_json(tmp_path / "selected_batch1.json", {"batch": 3})
    with pytest.raises(InputErrors) as many:
        formats.load_checked(wrong, "selected")
    assert all(str(p).startswith(f"{wrong}: $") for p in many.value.problems)


def test_a_config_that_is_not_an_object_is_a_schema_error_not_a_crash(tmp_path):
    found = problems("your_perf", {"gelu": {"configs": [5, {"shape": [8], "dtype": "float32", "your_time": float("nan"),
                                                             "cuda_time": 1.0}]}}, tmp_path, "your_perf_data.json")  # fmt: skip
    assert any("$.gelu.configs[0]" in p for p in found) and any("configs[1].your_time: expected a finite" in p for p in found)
