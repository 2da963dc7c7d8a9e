"""Invariants of the engine, checked with hypothesis."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_flaggems_import.core.dtypes import canonical_dtype
from pytest_flaggems_import.core.formats import PerfConfig
from pytest_flaggems_import.core.selection import Rules, select

SPELLINGS = {"float16": ["fp16", "half", "torch.float16"], "float32": ["fp32", "float", "torch.float32"]}
times = st.floats(min_value=1e-4, max_value=10.0, allow_nan=False, allow_infinity=False)
configs = st.lists(
    st.tuples(st.integers(1, 4096), st.sampled_from(sorted(SPELLINGS)), times, times, times),
    min_size=1, max_size=8, unique_by=lambda c: (c[0], c[1]),
)  # fmt: skip
aggregates = st.sampled_from(["mean", "geomean", "median", "worst"])


def tables(rows, spell=lambda d: d, scale=1.0):
    your = {"op": tuple(PerfConfig((n,), canonical_dtype(spell(d)), y * scale, c) for n, d, y, c, _ in rows)}
    fg = {"op": tuple(PerfConfig((n,), canonical_dtype(spell(d)), f, c) for n, d, _, c, f in rows)}
    return your, fg


@settings(max_examples=200, deadline=None)
@given(configs, aggregates, st.randoms())
def test_selection_ignores_config_order(rows, how, rnd):
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    rules = Rules(batch="1", aggregate=how)
    [a] = select(*tables(rows), rules)
    [b] = select(*tables(shuffled), rules)
    assert a.selected == b.selected
    assert a.avg_speedup_vs_flaggems == pytest.approx(b.avg_speedup_vs_flaggems, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(configs, aggregates, st.integers(0, 2**32))
def test_selection_ignores_dtype_spelling(rows, how, seed):
    rnd = random.Random(seed)
    rules = Rules(batch="1", aggregate=how)
    [a] = select(*tables(rows), rules)
    [b] = select(*tables(rows, spell=lambda d: rnd.choice(SPELLINGS[d])), rules)
    assert (a.selected, a.avg_speedup_vs_flaggems) == (b.selected, b.avg_speedup_vs_flaggems)


@settings(max_examples=200, deadline=None)
@given(configs, aggregates, st.floats(min_value=0.1, max_value=10.0))
def test_scaling_your_time_by_k_scales_speedups_by_1_over_k(rows, how, k):
    rules = Rules(batch="1", aggregate=how)
    [a] = select(*tables(rows), rules)
    [b] = select(*tables(rows, scale=k), rules)
    assert len(a.configs) == len(b.configs) > 0
    for ca, cb in zip(a.configs, b.configs, strict=True):
        assert cb.speedup_vs_flaggems == pytest.approx(ca.speedup_vs_flaggems / k, rel=1e-9)
    assert b.avg_speedup_vs_flaggems == pytest.approx(a.avg_speedup_vs_flaggems / k, rel=1e-9)
