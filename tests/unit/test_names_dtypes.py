import pytest

from pytest_flaggems_import.core.dtypes import canonical_dtype
from pytest_flaggems_import.core.names import parse_op_name


@pytest.mark.parametrize(
    ("text", "qualified", "entry", "short"),
    [
        ("aten::gelu", "aten::gelu", "gelu", "gelu"),
        ("gelu", "aten::gelu", "gelu", "gelu"),
        ("gelu_", "aten::gelu_", "gelu_", "gelu_"),
        ("aten::multiply.Tensor", "aten::multiply.Tensor", "multiply_Tensor", "multiply.Tensor"),
        ("custom::fused_rms", "custom::fused_rms", "fused_rms", "fused_rms"),
    ],
)
def test_op_names_resolve_to_entry_and_perf_key(text, qualified, entry, short):
    name = parse_op_name(text)
    assert (name.qualified, name.entry, name.short) == (qualified, entry, short)


@pytest.mark.parametrize("hostile", ["../etc/passwd", "aten::gelu/../../x", "/abs", "a b", "", "aten::", "x.y.z"])
def test_names_that_could_escape_a_folder_are_refused(hostile):
    with pytest.raises(ValueError):
        parse_op_name(hostile)


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [("fp16", "float16"), ("torch.float16", "float16"), ("half", "float16"), ("bf16", "bfloat16"),
     ("float", "float32"), ("FP32", "float32"), ("double", "float64"), ("int32", "int32"), ("torch.bool", "bool")],
)  # fmt: skip
def test_dtype_spellings_are_canonicalised(spelling, canonical):
    assert canonical_dtype(spelling) == canonical


def test_unknown_dtype_is_an_error_that_names_it():
    with pytest.raises(ValueError, match="fp12"):
        canonical_dtype("fp12")
