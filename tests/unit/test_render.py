import ast

import pytest

from pytest_flaggems_import.core import formats
from pytest_flaggems_import.importer import render


def test_add_export_keeps_hand_written_content():
    text = '"""Generated ops."""\n\nimport os  # keep me\n\n\ndef helper():\n    return 1\n'
    out = render.add_export(text, "flag_gems.x.gelu", "gelu")
    assert out.startswith('"""Generated ops."""\n\nimport os  # keep me\nfrom flag_gems.x.gelu import gelu\n')
    assert "def helper():\n    return 1\n" in out
    assert ast.literal_eval(out.split("__all__ = ")[1]) == ["gelu"]


def test_add_export_is_idempotent_and_extends_all():
    once = render.add_export('__all__ = ["relu"]\n', "m.gelu", "gelu")
    assert render.add_export(once, "m.gelu", "gelu") == once
    assert '"relu",\n    "gelu",' in once


def test_add_export_into_empty_file():
    assert render.add_export("", "m.gelu", "gelu") == 'from m.gelu import gelu\n\n__all__ = [\n    "gelu",\n]\n'


def test_retarget_imports_points_tests_at_the_new_module():
    src = "from flag_gems.experimental_ops.gelu import gelu\nimport flag_gems.experimental_ops.gelu_x\n"
    out = render.retarget_imports(src, "gelu", "pointwise", "flag_gems.experimental.generated.pointwise.gelu")
    assert out.splitlines()[0] == "from flag_gems.experimental.generated.pointwise.gelu import gelu"
    assert "experimental_ops.gelu_x" in out  # another op's name is left alone


def test_metadata_timestamps_move_only_when_the_entry_changes():
    merged = render.merge_metadata(None, {"gelu": {"x": 1}}, "T1")
    assert render.merge_metadata(merged, {"gelu": {"x": 1}}, "T2")["last_updated"] == "T1"
    assert render.merge_metadata(merged, {"gelu": {"x": 2}}, "T3")["last_updated"] == "T3"


EXPORT = "from m.gelu import gelu\n"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # a docstring and no import: the import goes right after the docstring
        ('"""Ops."""\nX = 1\n', '"""Ops."""\n' + EXPORT + 'X = 1\n\n__all__ = [\n    "gelu",\n]\n'),
        # no docstring, no import: at the top
        ("X = 1\n", EXPORT + 'X = 1\n\n__all__ = [\n    "gelu",\n]\n'),
        # no final newline: one is added before anything follows
        ("import os", "import os\n" + EXPORT + '\n__all__ = [\n    "gelu",\n]\n'),
        # already two newlines at the end: no third
        ("import os\n\n", "import os\n" + EXPORT + '\n__all__ = [\n    "gelu",\n]\n'),
        # __all__ in the middle, another name after it: rewritten in place, the rest kept
        ('import os\n__all__ = ["relu"]\nY = 2\nZ = 3\n',
         'import os\n' + EXPORT + '__all__ = [\n    "relu",\n    "gelu",\n]\nY = 2\nZ = 3\n'),
        # already imported, no __all__, no final newline: __all__ after one blank line
        ("from m.gelu import gelu", 'from m.gelu import gelu\n\n__all__ = [\n    "gelu",\n]\n'),
        # a computed __all__ is not ours to rewrite
        ('import os\n__all__ = sorted(["relu"])\n', 'import os\n' + EXPORT + '__all__ = sorted(["relu"])\n'),
        # an attribute named __all__ is not the module's
        ('import os\nx.__all__ = ["relu"]\n', 'import os\n' + EXPORT + 'x.__all__ = ["relu"]\n\n__all__ = [\n    "gelu",\n]\n'),
    ],
    ids=["docstring", "no-import", "no-final-newline", "blank-end", "all-in-middle", "imported-no-newline",
         "computed-all", "attribute-all"],
)  # fmt: skip
def test_add_export_puts_the_import_after_the_last_one_and_the_name_in_all(before, after):
    assert render.add_export(before, "m.gelu", "gelu") == after
    compile(after, "__init__.py", "exec")


def candidate() -> render.Candidate:
    spec = formats.operator_from_data({"op_name": "gelu", "code": "def gelu(x):\n    return x\n",
                                       "params": {"approximate": "tanh"}, "info": {"total": 3}}, "gelu.json")  # fmt: skip
    return render.Candidate(spec, "pointwise", 1, "mean speedup 1.5x", "batch1/gelu.json",
                            performance={"configs": [1]}, validation={"passed": 3})  # fmt: skip


def test_a_metadata_entry_records_where_the_operator_came_from_and_why_it_was_selected():
    entry = render.metadata_entry(candidate(), "src/gelu.py", "T1", None)
    assert entry == {
        "op_name": "aten::gelu", "op_id": "gelu", "category": "pointwise", "status": "EXPERIMENTAL",
        "generation_info": {"source": "batch1/gelu.json", "params": {"approximate": "tanh"}, "claimed": {"total": 3},
                            "tool": "pytest-flaggems-import"},
        "validation_info": {"passed": 3},
        "performance_baselines": {"batch": 1, "justification": "mean speedup 1.5x", "configs": [1]},
        "code_location": "src/gelu.py", "created_at": "T1", "updated_at": "T1",
    }  # fmt: skip


def test_a_metadata_entry_keeps_its_creation_time_and_moves_its_update_time_only_on_change():
    first = render.metadata_entry(candidate(), "src/gelu.py", "T1", None)
    assert render.metadata_entry(candidate(), "src/gelu.py", "T2", first) == first
    moved = render.metadata_entry(candidate(), "src/other.py", "T3", first)
    assert (moved["created_at"], moved["updated_at"]) == ("T1", "T3")
    # An entry written by hand without timestamps gets them now, changed or not.
    bare = {k: v for k, v in first.items() if not k.endswith("_at")}
    assert {k: v for k, v in render.metadata_entry(candidate(), "src/gelu.py", "T4", bare).items()
            if k.endswith("_at")} == {"created_at": "T4", "updated_at": "T4"}  # fmt: skip


def test_a_new_registry_has_a_version_a_time_and_the_entries_sorted():
    merged = render.merge_metadata(None, {"silu": {"x": 1}, "gelu": {"x": 2}}, "T1")
    assert merged == {"version": render.METADATA_VERSION, "last_updated": "T1",
                      "ops": {"gelu": {"x": 2}, "silu": {"x": 1}}}  # fmt: skip
    assert list(merged["ops"]) == ["gelu", "silu"]
    without_ops = render.merge_metadata({"version": "1", "last_updated": "T0"}, {"gelu": {"x": 2}}, "T2")
    assert without_ops == {"version": "1", "last_updated": "T2", "ops": {"gelu": {"x": 2}}}


def test_the_code_file_is_the_header_then_the_code_as_written_with_one_final_newline():
    spec = formats.operator_from_data({"op_name": "gelu", "code": "\n\nimport torch  \n\n\n"}, "gelu.json")
    c = render.Candidate(spec, "pointwise", 1, "fast", "gelu.json")
    assert render.render_code(c) == render.render_header(c) + "\n\nimport torch  \n"
    ends_in_x = render.Candidate(formats.operator_from_data({"op_name": "gelu", "code": "X = 1\nY = X"}, "g.json"),
                                 "pointwise", 1, "fast", "g.json")  # fmt: skip
    assert render.render_code(ends_in_x).endswith("\nY = X\n")  # only newlines are trimmed


def test_an_operator_with_one_function_per_overload_exports_each_of_them_and_nothing_else():
    code = "def helper(x):\n    pass\n\ndef multiply_Tensor(a, b):\n    pass\n\ndef multiply_Scalar(a, b):\n    pass\n" \
           "\ndef multiply_(a, b):\n    pass\n"  # fmt: skip
    spec = formats.operator_from_data({"op_name": "multiply", "code": code}, "multiply.json")
    assert render.exported_names(spec) == ["multiply_Tensor", "multiply_Scalar"]
