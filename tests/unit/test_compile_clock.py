"""Triton's compile time as the plugin counts it (runner.compile_clock): from the events Triton
sends its compilation listener. No GPU here, so the events are sent the way Triton's compiler
sends them (triton/compiler/compiler.py: keyword arguments, times in microseconds)."""

from __future__ import annotations

import pytest
from triton import knobs

from pytest_flaggems_import.runner.compile_clock import CompileClock


@pytest.fixture
def listener_slot():
    before = knobs.compilation.listener
    yield
    knobs.compilation.listener = before


def event(microseconds: int, cache_hit: bool) -> dict:
    times = knobs.CompileTimes(ir_initialization=microseconds // 2, lowering_stages=[("ptx", microseconds // 4),
                               ("cubin", microseconds // 4)], store_results=0)  # fmt: skip
    return {"src": None, "metadata": {}, "metadata_group": {}, "times": times, "cache_hit": cache_hit}


def test_kernels_compiled_are_counted_and_cache_hits_are_not(listener_slot):
    clock = CompileClock()
    assert clock.install()
    knobs.compilation.listener(**event(1_500_000, cache_hit=False))
    knobs.compilation.listener(**event(2_000_000, cache_hit=True))
    knobs.compilation.listener(**event(500_000, cache_hit=False))
    assert clock.take() == (pytest.approx(2.0), 2)
    assert clock.take() == (0.0, 0)  # each take starts a new count


def test_a_listener_set_before_is_still_called(listener_slot):
    seen = []
    knobs.compilation.listener = lambda **e: seen.append(e["cache_hit"])
    clock = CompileClock()
    clock.install()
    knobs.compilation.listener(**event(1000, cache_hit=False))
    knobs.compilation.listener(**event(1000, cache_hit=True))
    assert seen == [False, True] and clock.take()[1] == 1
