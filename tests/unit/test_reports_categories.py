import json

import jsonschema
import pytest

from pytest_flaggems_import.core import formats, jsonio, reports
from pytest_flaggems_import.core.categories import infer_category
from pytest_flaggems_import.core.formats import PerfConfig
from pytest_flaggems_import.core.names import parse_op_name
from pytest_flaggems_import.core.selection import Rules, select


def decisions():
    your = {"gelu": (PerfConfig((256, 256), "float32", 0.5, 1.0),), "huber": (PerfConfig((8,), "float16", 0.9, 1.0),)}
    fg = {"gelu": (PerfConfig((256, 256), "float32", 0.7, 1.0),)}
    return select(your, fg, Rules())


def test_selected_batch1_file_has_the_seeds_shape_and_numbers():
    data = jsonio.rounded(reports.selected_file(decisions(), 1, Rules()))
    jsonschema.validate(data, formats.schema("selected"))
    assert {k: data[k] for k in ("batch", "threshold", "criterion", "total_operators", "total_configs")} == {
        "batch": 1, "threshold": 1.3, "criterion": "speedup_vs_flaggems", "total_operators": 1, "total_configs": 1,
    }  # fmt: skip
    assert data["operators"]["gelu"]["configs"][0] == {
        "shape": [256, 256], "dtype": "float32", "your_time": 0.5, "cuda_time": 1.0, "flaggems_time": 0.7,
        "speedup_vs_flaggems": 1.4, "relative_to_cuda": 0.5,
    }  # fmt: skip


def test_batch2_file_has_nulls_for_flaggems_fields():
    data = jsonio.rounded(reports.selected_file(decisions(), 2, Rules()))
    op = data["operators"]["huber"]
    assert op["avg_speedup_vs_flaggems"] is None and op["configs"][0]["flaggems_time"] is None
    json.dumps(data, allow_nan=False)


def test_rounding_is_three_decimals_only_in_files():
    assert jsonio.rounded({"a": [1.23456, {"b": 2.0004}]}) == {"a": [1.235, {"b": 2.0}]}


def test_summary_names_rejections_with_reasons():
    your = {"gelu": (PerfConfig((256, 256), "float32", 0.5, 1.0),), "relu": (PerfConfig((8,), "float32", 1.0, 1.0),)}
    fg = {"gelu": (PerfConfig((256, 256), "float32", 0.7, 1.0),), "relu": (PerfConfig((8,), "float32", 1.1, 1.0),)}
    lines = reports.summary_lines(select(your, fg, Rules(), blocked={"gelu": "tests failed: 1 of 3"}), Rules())
    assert lines[0].startswith("batch 1: 0 of 2 selected")
    rejected = {line.split()[1]: line for line in lines[1:]}
    assert rejected["gelu"].startswith("  - ") and "tests failed: 1 of 3" in rejected["gelu"]
    assert "mean speedup vs FlagGems 1.100x < 1.3x" in rejected["relu"]


@pytest.mark.parametrize(
    ("op", "code", "category"),
    [("mm", "", "blas"), ("my_op", "acc += tl.dot(a, b)", "blas"), ("huber_loss", "", "reduction"),
     ("row_thing", "s = tl.sum(x, axis=1)", "reduction"), ("maximum", "", "pointwise"), ("gelu", "", "pointwise")],
)  # fmt: skip
def test_category_is_inferred_from_name_and_code(op, code, category):
    assert infer_category(parse_op_name(op), code) == category
