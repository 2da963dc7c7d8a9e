"""Names that become module, folder and file names in a checkout are checked where they enter
(issue 16): a hostile or colliding name is an input error naming the file and the JSON path."""

from __future__ import annotations

import fcntl
import os

import pytest

from pytest_flaggems_import.core import formats
from pytest_flaggems_import.core.names import module_name_problem
from pytest_flaggems_import.importer import transaction
from pytest_flaggems_import.importer.layout import find_checkout

CODE = "def f(x):\n    return x\n"


@pytest.mark.parametrize(
    ("data", "json_path", "fragment"),
    [
        ({"op_name": "sys"}, "$.op_name", "module name 'sys' is the name of a module generated code imports"),
        ({"op_name": "flag_gems"}, "$.op_name", "give the operator an \"entry\" such as \"flag_gems_op\""),
        ({"op_name": "__init__"}, "$.op_name", "'__init__' is a dunder name"),
        ({"op_name": "gelu", "entry": "__init__"}, "$.entry", "entry '__init__' is a dunder name"),
        ({"op_name": "gelu", "category": "__pycache__"}, "$.category", "category '__pycache__' is a dunder name"),
        ({"op_name": "gelu", "category": "pointwise\n"}, "$.category", "is not a Python identifier"),
        ({"op_name": "aten::../../evil"}, "$.op_name", "does not match"),
    ],
)
def test_hostile_names_are_input_errors_with_file_and_json_path(tmp_path, data, json_path, fragment):
    path = tmp_path / "op.json"
    problems = formats.validate("operator", {"code": CODE, **data}, path)
    assert problems, data
    assert problems[0].json_path == json_path and str(path) in str(problems[0])
    assert fragment in problems[0].message


@pytest.mark.parametrize("name", ["gelu", "add_Tensor", "copy", "select", "trace", "softmax"])
def test_real_operator_names_pass_even_where_the_standard_library_has_a_module_of_that_name(name):
    assert module_name_problem(name, "module name") is None


def _checkout(root):
    (root / "src" / "flag_gems").mkdir(parents=True)
    (root / "src" / "flag_gems" / "__init__.py").write_text("")
    return root


def test_one_lock_per_checkout_whatever_the_spelling_of_its_root(tmp_path):
    root = _checkout(tmp_path / "FlagGems")
    (tmp_path / "link").symlink_to(root)
    with transaction.locked(find_checkout(root).package):
        for spelling in (root / "src", tmp_path / "link"):
            fd = os.open(find_checkout(spelling).package, os.O_RDONLY)
            try:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)
    assert sorted(p.name for p in (root / "src" / "flag_gems").iterdir()) == ["__init__.py"]  # no lock file left


def test_the_plugin_refuses_two_operator_files_that_would_share_a_module():
    from pytest_flaggems_import.plugin.records import OpRecord, unique_records

    records = [OpRecord(op="add.Tensor", path="ops/a.json"), OpRecord(op="add_Tensor", path="ops/b.json")]
    with pytest.raises(pytest.UsageError, match=r"ops/b.json: operator 'add_Tensor' and 'add.Tensor' \(ops/a.json\) would share"):
        unique_records(records)
