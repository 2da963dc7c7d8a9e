import ast

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
