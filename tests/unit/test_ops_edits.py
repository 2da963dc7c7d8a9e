"""The ``ops`` layout's edits of FlagGems' files (importer/ops_layout.py), text in, text out: where
a new name goes, how the lines around it look, and that what the checkout had stays as it was.

Most cases came from a mutation run's survivors (docs/testing.md): each fails on a small change of
the code it names. Three were bugs: comments copied onto every new element (and an element's own
end-of-line comment moved to the next), the first import of an ``__init__.py`` without one put
above its docstring and ``from __future__`` line, and a benchmark's input line past black's 88.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_flaggems_import.importer import ops_layout

# -- where a name goes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "new", "place"),
    [
        # case and leading underscores are ignored, and "_" sorts before letters as it does in lower case
        (["logaddexp", "logit"], "log_sigmoid", 0),
        (["Abs", "cos"], "acos", 1),
        (["abs", "conj", "sin"], "_conj_copy", 2),
        # a name of a kind the list lacks still goes where most names agree with it
        (["zeta", "alpha", "beta", "gamma"], "_delta", 3),
        # equal sort keys: the first of the places that agree equally
        (["abs", "conj", "sin"], "_conj", 1),
        (["b"], "a", 0),
        (["a"], "b", 1),
    ],
)
def test_a_name_goes_between_neighbours_it_sorts_between(names, new, place):
    assert ops_layout.sorted_position(names, new) == place


names = st.text(alphabet="ab_", min_size=1, max_size=4).filter(lambda n: n.strip("_"))


@given(st.lists(names, max_size=6, unique=True), names)
def test_a_sorted_list_stays_sorted(existing, new):
    plain = sorted((n for n in existing if not n.startswith("_")), key=ops_layout.sort_key)
    if new in plain or new.startswith("_"):
        return
    at = ops_layout.sorted_position(plain, new)
    keys = [ops_layout.sort_key(n) for n in [*plain[:at], new, *plain[at:]]]
    assert keys == sorted(keys)


def test_names_placed_at_one_place_are_in_sorted_order_and_named_once():
    assert ops_layout.placements(["x"], ["_b", "a", "a", "x"]) == {0: ["a", "_b"]}


# -- src/flag_gems/ops/__init__.py -------------------------------------------------------------------


def test_an_import_after_the_last_of_the_package_and_before_what_follows():
    text = "import torch\n\nfrom flag_gems.ops.abs import abs\nfrom flag_gems.ops.cos import cos\n\n__all__ = []\n"
    assert ops_layout.add_imports(text, [("flag_gems.ops.zeta", ["zeta"]), ("flag_gems.ops.acos", ["acos"])]) == (
        "import torch\n\nfrom flag_gems.ops.abs import abs\nfrom flag_gems.ops.acos import acos\n"
        "from flag_gems.ops.cos import cos\nfrom flag_gems.ops.zeta import zeta\n\n__all__ = []\n"
    )


def test_the_first_import_of_the_package_goes_below_the_docstring_and_the_other_imports():
    text = '"""Ops."""\nfrom __future__ import annotations\n\nimport torch\n\n__all__ = []\n'
    edited = ops_layout.add_imports(text, [("flag_gems.ops.abs", ["abs"])])
    assert edited == (
        '"""Ops."""\nfrom __future__ import annotations\n\nimport torch\nfrom flag_gems.ops.abs import abs\n\n__all__ = []\n'
    )
    compile(edited, "__init__.py", "exec")  # a __future__ import must stay first


@pytest.mark.parametrize(
    ("text", "edited"),
    [
        # after the docstring and the imports that open the file, before the first other statement
        ('"""Doc."""\nimport torch\nif torch.cuda.is_available():\n    pass\n',
         '"""Doc."""\nimport torch\nfrom flag_gems.ops.abs import abs\nif torch.cuda.is_available():\n    pass\n'),
        # a string assigned first is no docstring: nothing opens the file, the import goes first
        ('__version__ = "1.0"\nimport torch\n', 'from flag_gems.ops.abs import abs\n__version__ = "1.0"\nimport torch\n'),
    ],
)
def test_the_first_import_of_the_package_goes_after_what_opens_the_file(text, edited):
    assert ops_layout.add_imports(text, [("flag_gems.ops.abs", ["abs"])]) == edited


def test_imports_inside_blocks_and_relative_ones_are_not_the_packages_siblings():
    text = (
        "try:\n    from flag_gems.ops.x import y\nexcept ImportError:\n    pass\n"
        "from .rel import rel\nfrom flag_gems.ops.abs import abs\n"
    )
    edited = ops_layout.add_imports(text, [("flag_gems.ops.zeta", ["zeta"]), ("flag_gems.ops.a", ["a"])])
    assert edited == (
        "try:\n    from flag_gems.ops.x import y\nexcept ImportError:\n    pass\n"
        "from .rel import rel\nfrom flag_gems.ops.a import a\nfrom flag_gems.ops.abs import abs\n"
        "from flag_gems.ops.zeta import zeta\n"
    )


def test_an_import_longer_than_black_allows_is_split_as_black_splits_it():
    fits = [f"n{i:02d}" for i in range(11)]  # "from flag_gems.ops.mmmmmmmm import n00, ..., n10" is 88 characters
    assert len(f"from flag_gems.ops.mmmmmmmm import {', '.join(fits)}") == 88
    one_line = ops_layout.add_imports("", [("flag_gems.ops.mmmmmmmm", fits)])
    assert one_line.strip() == f"from flag_gems.ops.mmmmmmmm import {', '.join(fits)}"
    split = ops_layout.add_imports("", [("flag_gems.ops.mmmmmmmm", [*fits, "n11"])])
    assert split.strip() == "from flag_gems.ops.mmmmmmmm import (\n" + "".join(f"    {n},\n" for n in [*fits, "n11"]) + ")"


# -- __all__ and _FULL_CONFIG ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "edited"),
    [
        ("__all__ = []\n", '__all__ = ["abs", "cos"]\n'),
        ('__all__ = ["acos"]\n', '__all__ = ["abs", "acos", "cos"]\n'),
        ('__all__ = "acos", "sin"\n', '__all__ = "abs", "acos", "cos", "sin"\n'),
        ('__all__ = [\n    "acos",\n]\n', '__all__ = [\n    "abs",\n    "acos",\n    "cos",\n]\n'),
        ('__all__ = (\n    "a",\n    "b"\n)\n', '__all__ = (\n    "a",\n    "abs",\n    "b",\n    "cos"\n)\n'),
        ('__all__ = ["a", "b",\n]\n', '__all__ = ["a", "abs", "b", "cos",\n]\n'),  # black's magic comma, its own line
    ],
)
def test_new_names_in_all_look_like_the_ones_there(text, edited):
    assert ops_layout.add_all_names(text, ["cos", "abs"]) == edited


def test_a_tuple_of_one_keeps_its_comma_and_nothing_else_gets_one_at_the_end():
    assert ops_layout.add_all_names("__all__ = ()\n", ["abs"]) == '__all__ = ("abs",)\n'
    assert ops_layout.add_all_names("__all__ = ()\n", ["cos", "abs"]) == '__all__ = ("abs", "cos")\n'
    assert ops_layout.add_all_names("__all__ = []\n", ["abs"]) == '__all__ = ["abs"]\n'


def test_comments_stay_with_the_names_they_belong_to_and_new_names_get_none():
    text = (
        "__all__ = [\n"
        "    # math\n"
        '    "abs",  # absolute\n'
        "    # trig\n"
        '    "cos",  # cosine\n'
        "    # the end\n"
        "]\n"
    )
    assert ops_layout.add_all_names(text, ["zeta", "acos", "aaa"]) == (
        "__all__ = [\n"
        '    "aaa",\n'
        "    # math\n"
        '    "abs",  # absolute\n'
        '    "acos",\n'
        "    # trig\n"
        '    "cos",  # cosine\n'
        '    "zeta",\n'
        "    # the end\n"
        "]\n"
    )


def test_full_config_entries_go_among_the_tuples_past_what_is_not_one():
    text = '_FULL_CONFIG = (\n    ("abs", abs),\n    # ("contiguous", contiguous),\n    _EXTRA,\n    ("sin", sin),\n)\n'
    assert ops_layout.add_full_config(text, {"exp": "exp", "zeta": "zeta_func"}) == (
        '_FULL_CONFIG = (\n    ("abs", abs),\n    # ("contiguous", contiguous),\n    _EXTRA,\n'
        '    ("exp", exp),\n    ("sin", sin),\n    ("zeta", zeta_func),\n)\n'
    )
    assert ops_layout.add_all_names('__all__ = ["abs", *_more, "sin"]\n', ["exp"]) == (
        '__all__ = ["abs", *_more, "exp", "sin"]\n'
    )


def test_a_tuples_comments_stay_too_at_either_end():
    text = '_FULL_CONFIG = (\n    # first\n    ("b", b),  # bee\n)\n'
    assert ops_layout.add_full_config(text, {"a": "a", "c": "c"}) == (
        '_FULL_CONFIG = (\n    ("a", a),\n    # first\n    ("b", b),  # bee\n    ("c", c),\n)\n'
    )


def test_a_file_without_the_literal_list_is_refused_by_name():
    with pytest.raises(ValueError, match=r"no literal __all__ = \[\.\.\.\] or \(\.\.\.\) at module level"):
        ops_layout.add_all_names("__all__ = names()\n", ["abs"])
    with pytest.raises(ValueError, match="no literal _FULL_CONFIG"):
        ops_layout.add_full_config("x = 1\n", {"abs": "abs"})


# -- conf/operators.yaml ---------------------------------------------------------------------------


def entry(op_id: str) -> str:
    return ops_layout.operator_entry(op_id, "d", [op_id], "Math", "5.4")


def test_a_last_entry_goes_after_the_last_block_and_before_what_follows_the_list():
    yaml = "ops:\n  - id: abs\n    for:\n      - abs\n\n  - id: cos\n    for:\n      - cos\n# more soon\nother: 1"
    assert ops_layout.add_operator_entries(yaml, [("zeta", entry("zeta")), ("acos", entry("acos"))]) == (
        "ops:\n  - id: abs\n    for:\n      - abs\n\n"
        + entry("acos")
        + "  - id: cos\n    for:\n      - cos\n"
        + entry("zeta")
        + "# more soon\nother: 1"
    )


def test_a_last_entry_at_the_end_of_a_file_without_a_final_newline():
    yaml = "ops:\n  - id: abs\n    for:\n      - abs"
    assert ops_layout.add_operator_entries(yaml, [("cos", entry("cos"))]) == (
        "ops:\n  - id: abs\n    for:\n      - abs\n" + entry("cos")
    )
    assert ops_layout.add_operator_entries(yaml, [("abs", entry("abs"))]) == yaml


def test_an_entry_in_an_empty_list_and_before_a_key_right_after_the_last_entry():
    assert ops_layout.add_operator_entries("ops:\n", [("cos", entry("cos"))]) == "ops:\n" + entry("cos")
    yaml = "ops:\n  - id: abs\nother: 1\n"
    assert ops_layout.add_operator_entries(yaml, [("cos", entry("cos"))]) == "ops:\n  - id: abs\n" + entry("cos") + "other: 1\n"


def test_the_kind_of_each_category():
    assert [ops_layout.kind_of(c) for c in ("pointwise", "reduction", "blas", "fused", "")] == [
        "Math",
        "Reduction",
        "BLAS",
        "NeuralNetwork",
        "NeuralNetwork",
    ]


# -- what the operator's code says -----------------------------------------------------------------

DEFAULT = "Triton kernel implementation for logit."


@pytest.mark.parametrize(
    ("code", "line"),
    [
        ('def logit(x):\n    """Logit of x.\n\n    More."""\n', "Logit of x."),
        ('def logit(x):\n    """Returns: logit."""\n', DEFAULT),  # YAML would read a mapping
        ('def logit(x):\n    """Logit # of x."""\n', DEFAULT),  # ... or a comment
        ('def other(x):\n    """Other."""\n', DEFAULT),  # no entry function
        ("def logit(x):\n    pass\n", DEFAULT),  # no docstring
        ("def logit(:\n", DEFAULT),  # not Python
    ],
)
def test_the_yaml_description_is_the_entrys_first_docstring_line_or_the_usual_one(code, line):
    assert ops_layout.description(code, "logit", "logit") == line


@pytest.mark.parametrize(
    ("code", "count"),
    [
        ("def f(x, y, alpha=1, *, out=None):\n    pass\n", 2),
        ("def f(x, /, y):\n    pass\n", 2),
        ("def g(x, y):\n    pass\n", 1),  # no entry function: one
        ("def f(:\n", 1),  # not Python: one
    ],
)
def test_tensor_arguments_are_the_entrys_positional_parameters_without_a_default(code, count):
    assert ops_layout.tensor_arguments(code, "f") == count


@pytest.mark.parametrize(
    ("category", "tensors", "base_class"),
    [
        ("pointwise", 1, "UnaryPointwiseBenchmark"),
        ("pointwise", 2, "BinaryPointwiseBenchmark"),
        ("pointwise", 3, "GenericBenchmark"),
        ("reduction", 1, "UnaryReductionBenchmark"),
        ("reduction", 2, "GenericBenchmark"),
        ("fused", 1, "GenericBenchmark"),
        ("blas", 0, "GenericBenchmark"),
    ],
)
def test_the_benchmark_file_uses_flaggems_base_benchmark_of_the_category(category, tensors, base_class):
    source = ops_layout.benchmark_source("logit", "logit", "torch.logit", category, tensors)
    generic = base_class == "GenericBenchmark"
    inputs = "" if not generic else "\n\ndef _input_fn(shape, dtype, device):\n" + (
        "    yield (torch.randn(shape, dtype=dtype, device=device),)\n"
        if tensors <= 1
        else "    yield (\n" + "        torch.randn(shape, dtype=dtype, device=device),\n" * tensors + "    )\n"
    )
    assert source == (
        "import pytest\nimport torch\n\nfrom . import base, consts\n"
        f"{inputs}\n\n@pytest.mark.logit\ndef test_logit():\n    bench = base.{base_class}(\n"
        '        op_name="logit",\n        torch_op=torch.logit,\n'
        + ("        input_fn=_input_fn,\n" if generic else "")
        + "        dtypes=consts.FLOAT_DTYPES,\n    )\n    bench.run()\n"
    )


@pytest.mark.parametrize("tensors", [1, 2, 3, 5])
def test_a_benchmark_file_is_as_black_formats_it(tensors):
    """FlagGems formats with black (88 columns): a generated file must pass its lint unchanged."""
    source = ops_layout.benchmark_source("logit", "logit", "torch.logit", "fused", tensors)
    formatted = subprocess.run([sys.executable, "-m", "ruff", "format", "--line-length", "88", "-"],
                               input=source, capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert formatted == source


# -- what the checkout already registers ----------------------------------------------------------


def test_what_the_checkout_registers_is_read_from_its_three_files_and_named_in_conflicts():
    top = '_OTHER = (("x", 1),)\n_FULL_CONFIG = (("abs", abs), ["y", y], (1, one), ("cos", cos))\n'
    ops_init = "from flag_gems.ops.abs import abs\nfrom flag_gems.ops.mine import helper\nfrom flag_gems.ops.e import exp as exp_\nfrom .rel import rel\n"
    registered = ops_layout.Registered.read(top, ops_init, "ops:\n  - id: sin\n")
    assert registered.keys == {"abs", "cos"}
    assert ops_layout.Registered.read("_FULL_CONFIG = make_config()\n", "", "").keys == frozenset()  # not a literal
    assert registered.imported == {"abs": "flag_gems.ops.abs", "helper": "flag_gems.ops.mine", "exp_": "flag_gems.ops.e"}
    assert registered.conflicts("flag_gems.ops.mine", {"mine": "helper"}, "mine") == []  # its own module
    assert registered.conflicts("flag_gems.ops.sin2", {"sin2": "sin2"}, "sin") == ["conf/operators.yaml has id 'sin'"]
    assert registered.conflicts("flag_gems.ops.abs2", {"abs": "abs"}, "abs2") == [
        "_FULL_CONFIG registers 'abs'", "ops/__init__.py imports abs from flag_gems.ops.abs"]


def test_aten_keys_need_the_entry_and_take_its_overload():
    assert ops_layout.aten_keys("def other(x):\n    pass\n", "logit", None, "logit") == {}
    assert ops_layout.aten_keys("def add_tensor(a, b):\n    pass\n", "add", "Tensor", "add_tensor") == {"add.Tensor": "add_tensor"}
    code = "def logit(x):\n    pass\n\ndef logit_out_(x):\n    pass\n\ndef compute_logits(x):\n    pass\n"
    assert ops_layout.aten_keys(code, "logit", None, "logit") == {"logit": "logit"}


@pytest.mark.parametrize(
    ("stages", "newest"),
    [
        (["stable: '5.9'", "beta: '5.10'"], "5.10"),  # numerically, not as text
        (["alpha: '4.2'", "stable: '10.0'", "beta: '9.11'"], "10.0"),
        ([], None),
    ],
)
def test_new_operators_get_the_newest_stage_version_numerically(stages, newest):
    yaml = "ops:\n  - id: celu\n    stages:\n" + "".join(f"      - {stage}\n" for stage in stages)
    assert ops_layout.newest_stage_version(yaml) == newest
