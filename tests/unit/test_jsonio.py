"""Files show numbers as ``round(x, 3)`` would, however many there are, and are laid out as
``json.dumps(indent=2)`` lays them out."""

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_flaggems_import.core import jsonio


def same_numbers(a, b):
    return [repr(x) for x in a] == [repr(x) for x in b]  # repr: -0.0 is not 0.0 in a file


near_ties = st.builds(
    lambda k, nudge: math.nextafter((k + 0.5) / 1000, math.inf if nudge > 0 else -math.inf) if nudge else (k + 0.5) / 1000,
    st.integers(-10**9, 10**9),
    st.integers(-1, 1),
)  # fmt: skip
numbers = st.floats(allow_nan=False, allow_infinity=False) | st.floats(-1e4, 1e4) | near_ties


@settings(max_examples=300, deadline=None)
@given(st.lists(numbers, min_size=64, max_size=400))
def test_bulk_rounding_gives_what_round_gives(values):
    assert same_numbers(jsonio.round_floats(values), [round(v, 3) for v in values])


@pytest.mark.parametrize(
    "value",
    [0.0005, 0.0015, 2.6745, 0.0625, 1.0625, -0.0625, -0.0004, 1e-320, 4.5e12, 1e300, 1.7976931348623157e308],
)
def test_bulk_rounding_of_ties_and_extremes(value):
    values = [value] * 100
    assert same_numbers(jsonio.round_floats(values), [round(value, 3)] * 100)


def test_missing_and_non_finite_numbers_become_null():
    values = [1.23456, None, math.inf, -math.inf, math.nan] * 20
    assert jsonio.round_floats(values) == [1.235, None, None, None, None] * 20
    assert jsonio.round_floats([math.inf] * 100 + [2.0] * 100) == [None] * 100 + [2.0] * 100


file_numbers = st.integers(-(10**12), 10**12).map(lambda k: k / 1000)  # what rounding leaves
layouts = st.recursive(
    st.none() | st.booleans() | st.integers() | file_numbers | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(layouts)
def test_files_are_laid_out_like_json_dumps(data):
    assert jsonio.dumps(data) == json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False)))
def test_any_number_reads_back_unchanged(values):
    # Exponents are spelled 1e-7, not 1e-07: another text, the same numbers.
    assert same_numbers(json.loads(jsonio.dumps(values)), values)


def test_str_subclasses_are_written_and_other_objects_refused():
    class Version(str):
        pass

    assert json.loads(jsonio.dumps({"torch": Version("2.13.0")})) == {"torch": "2.13.0"}
    with pytest.raises(TypeError, match="PosixPath|Path"):
        jsonio.dumps({"where": Path("/tmp")})


def test_a_write_that_fails_halfway_leaves_the_old_file_and_no_temporary_file(tmp_path):
    from pytest_flaggems_import.core.jsonio import write_atomic

    target = tmp_path / "selected_batch1.json"
    target.write_text('{"old": true}\n')
    with pytest.raises(TypeError):
        write_atomic(target, '{"new": ', object())  # the second part cannot be written
    assert target.read_text() == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["selected_batch1.json"]


def test_a_fifo_is_refused_before_reading_and_deep_nesting_is_an_input_error(tmp_path):
    import os

    from pytest_flaggems_import.core.jsonio import read_json
    from pytest_flaggems_import.errors import InputError

    fifo = tmp_path / "your_perf_data.json"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    with pytest.raises(InputError, match="not a regular file"):
        read_json(fifo)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 10_000 + "]" * 10_000)
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        read_json(deep)
    moderately = tmp_path / "moderately.json"
    moderately.write_text("[" * 100 + "]" * 100)
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        read_json(moderately)


def test_a_lone_surrogate_is_an_input_error_and_a_pair_is_text():
    from pytest_flaggems_import.errors import InputError

    with pytest.raises(InputError, match="surrogate"):
        jsonio.parse_json(b'{"op_name": "relu\\ud800"}', "ops/relu.json")
    assert jsonio.parse_json(b'{"op_name": "relu\\ud83d\\ude00"}', "ops/relu.json") == {"op_name": "relu\U0001f600"}


def test_write_atomic_goes_through_a_hidden_temporary_file_beside_the_target(tmp_path, monkeypatch):
    import os

    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (replaced.append((Path(src), Path(dst))), real_replace(src, dst)))
    target = tmp_path / "new" / "deeper" / "selected_batch1.json"  # folders that do not exist yet
    jsonio.write_atomic(target, '{"a": ', b"1}", "\n")
    assert target.read_bytes() == b'{"a": 1}\n'
    [(temporary, final)] = replaced
    assert final == target and temporary.parent == target.parent
    assert temporary.name.startswith(".selected_batch1.json.") and temporary.name.endswith(".tmp")
    assert sorted(p.name for p in target.parent.iterdir()) == ["selected_batch1.json"]


def test_write_atomic_keeps_the_mode_of_the_file_it_replaces_and_makes_new_ones_0644(tmp_path):
    import os
    import stat

    private = tmp_path / "session.json"
    private.write_text("{}\n")
    os.chmod(private, 0o600)
    jsonio.write_json(private, {"a": 1})
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and json.loads(private.read_text()) == {"a": 1}
    assert private.read_text().endswith("}\n")
    old_umask = os.umask(0o077)  # a strict umask does not make a new report unreadable to others
    try:
        jsonio.write_json(tmp_path / "fresh.json", [])
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "fresh.json").stat().st_mode) == 0o644


def test_every_read_error_names_the_file(tmp_path, monkeypatch):
    from pytest_flaggems_import.errors import InputError

    def message(path) -> str:
        with pytest.raises(InputError) as caught:
            jsonio.read_json(path)
        return str(caught.value)

    assert message(tmp_path / "missing.json") == f"{tmp_path / 'missing.json'}: no such file"
    assert message(tmp_path) == f"{tmp_path}: not a regular file (a folder, FIFO or device): refused before reading"
    exact = tmp_path / "exact.json"
    exact.write_text("[1, 2]")
    monkeypatch.setattr(jsonio, "MAX_INPUT_BYTES", 6)
    assert jsonio.read_json(exact) == [1, 2]  # at the limit: read
    exact.write_text("[1, 22]")
    assert message(exact) == f"{exact}: 7 bytes: larger than any input this tool reads (6)"
    monkeypatch.undo()
    locked = tmp_path / "locked.json"
    locked.write_text("{}")
    monkeypatch.setattr(jsonio.Path, "read_bytes", lambda self: (_ for _ in ()).throw(PermissionError(13, "denied")))
    assert message(locked) == f"{locked}: cannot read: [Errno 13] denied"
    monkeypatch.undo()
    for raw, said in ((b"\xff{}", "cannot read: 'utf-8' codec can't decode byte 0xff"),
                      (b"[" * 100_000, "nested deeper than 64 levels"), (b"{\"a\": \"\\uD800\"}", "lone surrogate")):  # fmt: skip
        with pytest.raises(InputError) as caught:
            jsonio.parse_json(raw, "ops/x.json")
        assert str(caught.value).startswith("ops/x.json: ") and said in str(caught.value)


def test_nesting_is_refused_from_65_levels_on():
    from pytest_flaggems_import.errors import InputError

    assert jsonio.parse_json(b"[" * 64 + b"]" * 64, "x") is not None  # 64 levels: the limit
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        jsonio.parse_json(b"[" * 65 + b"]" * 65, "x")
    # a scalar beside the deep part does not end the walk early
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        jsonio.parse_json(b"[" * 65 + b"]" * 64 + b", 1]", "x")
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        jsonio.parse_json(b'{"a": 1, "b": ' + b"[" * 64 + b"]" * 64 + b"}", "x")


def test_rounding_to_other_digits_reaches_every_level():
    assert jsonio.rounded({"a": [1.23456, {"b": 9.87654}], "c": 0.5}, 2) == {"a": [1.23, {"b": 9.88}], "c": 0.5}
    values = [i / 7 for i in range(200)]
    assert jsonio.round_floats(values, 2) == [round(v, 2) for v in values]  # the bulk path
    assert jsonio.round_floats(values[:10], 2) == [round(v, 2) for v in values[:10]]  # the plain one


def test_the_fourth_mutation_runs_survivors():
    import warnings

    from pytest_flaggems_import.errors import InputError

    with pytest.raises(InputError) as caught:  # 65 levels: refused after parsing, named with the file
        jsonio.parse_json(b"[" * 65 + b"]" * 65, "ops/deep.json")
    assert str(caught.value) == "ops/deep.json: nested deeper than 64 levels"
    with pytest.raises(InputError) as caught:
        jsonio.parse_json(b'["\\udc00"]', "ops/s.json")
    assert str(caught.value) == "ops/s.json: a string holds a lone surrogate (\\ud800-\\udfff): not Unicode text"
    # rounding in bulk: a tie redone by round() keeps the digits asked for, and huge or infinite
    # numbers raise no numpy warning on the way
    assert jsonio.round_floats([0.125] * 100, 2) == [0.12] * 100
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert jsonio.round_floats([1e308, float("inf"), float("nan"), *[1.0] * 97]) == [1e308, None, None, *[1.0] * 97]
