"""The fast path for perf files never accepts what the exact path (the published schema and the
semantic checks) rejects, and when it accepts it builds the same table."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_flaggems_import.core import formats
from pytest_flaggems_import.errors import InputError, InputErrors

KINDS = ["your_perf", "flaggems_perf"]


def exact(raw: bytes, kind: str):
    try:
        return formats._exact_perf(raw, "perf.json", kind)
    except (InputError, InputErrors):
        return None


def config(kind: str, **changes) -> dict:
    row = {"shape": [1024, 3], "dtype": "fp16", formats.TIME_KEY[kind]: 0.5, "cuda_time": 0.7}
    row.update(changes)
    return {k: v for k, v in row.items() if v is not ...}


def document(*rows) -> bytes:
    return json.dumps({"gelu": {"configs": list(rows)}}).encode()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("name", "changes", "accepted"),
    [
        ("plain", {}, True),
        ("integer times", {"cuda_time": 2}, True),
        ("torch spelling", {"dtype": "torch.bfloat16"}, True),
        ("an extra key, kept by the exact path", {"note": "warm cache"}, True),
        ("zero time", {"cuda_time": 0}, False),
        ("negative time", {"cuda_time": -1.0}, False),
        ("boolean time", {"cuda_time": True}, False),
        ("string time", {"cuda_time": "0.7"}, False),
        ("missing time", {"cuda_time": ...}, False),
        ("float dimension, an integer to the schema", {"shape": [2.0, 3]}, True),
        ("negative dimension", {"shape": [-1]}, False),
        ("boolean dimension", {"shape": [True]}, False),
        ("empty dtype", {"dtype": ""}, False),
        ("unknown dtype", {"dtype": "float17"}, False),
    ],
)
def test_fast_path_agrees_with_the_exact_path(kind, name, changes, accepted):
    raw = document(config(kind, **changes))
    fast, slow = formats._fast_perf(raw, kind), exact(raw, kind)
    assert (slow is not None) == accepted
    assert fast is None or fast == slow


@pytest.mark.parametrize(
    "raw",
    [
        b'{"gelu": {"configs": [{"shape": [1], "dtype": "fp16", "your_time": NaN, "cuda_time": 1}]}}',
        b'{"gelu": {"configs": [{"shape": [1], "dtype": "fp16", "your_time": 1e400, "cuda_time": 1}]}}',
        b'{"gelu": {"configs": [{"shape": [1], "dtype": "fp16", "your_time": 1e-400, "cuda_time": 1}]}}',
        b'\xef\xbb\xbf{"gelu": {"configs": []}}',
        b'{"gelu": {"configs": []}} trailing',
        b'{"gelu": {"configs": {}}}',
        b'{"gelu": {"config": []}}',
        b"[]",
    ],
    ids=["nan", "overflow", "underflow", "bom", "trailing", "configs object", "no configs", "array"],
)
def test_fast_path_declines_what_the_exact_path_rejects(raw):
    assert formats._fast_perf(raw, "your_perf") is None
    assert exact(raw, "your_perf") is None


def test_duplicates_under_another_spelling_are_left_to_the_exact_path_which_names_them(tmp_path):
    raw = document(config("your_perf", dtype="fp16"), config("your_perf", dtype="float16"))
    (tmp_path / "your_perf_data.json").write_bytes(raw)
    assert formats._fast_perf(raw, "your_perf") is None
    with pytest.raises(InputErrors) as err:
        formats.load_perf(tmp_path / "your_perf_data.json", "your_perf")
    assert "$.gelu.configs[1]" in str(err.value) and "duplicate configuration" in str(err.value)


def test_extra_keys_reach_the_table_through_the_exact_path(tmp_path):
    path = tmp_path / "your_perf_data.json"
    path.write_bytes(document(config("your_perf", note="warm cache")))
    [cfg] = formats.load_perf(path, "your_perf")["gelu"]
    assert cfg.extra == {"note": "warm cache"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 5000) | st.floats(-1.0, 10.0) | st.sampled_from(["fp16", "", "x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "configs"]), inner, max_size=2),
    max_leaves=6,
)
positive = st.floats(min_value=1e-6, max_value=10.0) | st.integers(1, 100)
odd_values = st.sampled_from([0, -1, 0.0, -1.0, -0.0, True, False, None, "0.5", 2.0, 1e-9, [], {}]) | json_values


def valid_rows(time_key):
    return st.fixed_dictionaries({
        "shape": st.lists(st.integers(0, 4096), max_size=3),
        "dtype": st.sampled_from(["fp16", "float16", "bf16", "torch.float32", "half"]),
        time_key: positive,
        "cuda_time": positive,
    })  # fmt: skip


@st.composite
def documents(draw):
    """A valid perf document, and most of the time one change to one of its rows."""
    kind = draw(st.sampled_from(KINDS))
    time_key = formats.TIME_KEY[kind]
    entry = st.fixed_dictionaries(
        {"configs": st.lists(valid_rows(time_key), max_size=3)}, optional={"provenance": json_values}
    )
    doc = draw(st.dictionaries(st.sampled_from(["gelu", "relu", "add.Tensor"]), entry, max_size=2))
    rows = [row for entry in doc.values() for row in entry["configs"]]
    if not rows or draw(st.integers(0, 3)) == 0:
        return doc, kind
    row = draw(st.sampled_from(rows))
    change = draw(st.sampled_from(["drop", "time", "dim", "dtype", "add"]))
    if change == "drop":
        del row[draw(st.sampled_from(sorted(row)))]
    elif change == "time":
        row[draw(st.sampled_from([time_key, "cuda_time"]))] = draw(odd_values)
    elif change == "dim":
        row["shape"] = [draw(odd_values | st.floats(0, 4)), *row["shape"]]
    elif change == "dtype":
        row["dtype"] = draw(odd_values | st.sampled_from(["", "float17", "FP16", " torch.half "]))
    else:
        row[draw(st.sampled_from(["extra", "note", "flaggems_time", "your_time"]))] = draw(json_values)
    return doc, kind


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_whatever_the_fast_path_accepts_the_exact_path_accepts_into_the_same_table(case):
    doc, kind = case
    raw = json.dumps(doc).encode()
    fast = formats._fast_perf(raw, kind)
    if fast is not None:
        assert fast == exact(raw, kind)


def test_an_ordinary_perf_file_takes_the_fast_path(tmp_path, monkeypatch):
    """The examples' perf files are plainly valid: loading them never needs the exact path."""
    from pathlib import Path

    def exact_path_taken(*args, **kwargs):
        raise AssertionError("the exact path was taken")

    monkeypatch.setattr(formats, "_exact_perf", exact_path_taken)
    examples = Path(__file__).parents[2] / "examples"
    assert formats.load_perf(examples / "your_perf_data.json", "your_perf")
    assert formats.load_perf(examples / "flaggems_perf_data.json", "flaggems_perf")
