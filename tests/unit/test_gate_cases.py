"""``runner.gate.cases``: what the correctness gate checks an operator on, from its perf rows."""

from __future__ import annotations

from collections import Counter

from pytest_flaggems_import.runner.gate import cases

CLAIMED = [([1024, 1024], "float16"), ([4096, 4096], "float16"), ([1024, 1024], "float32"), ([4096, 4096], "float32")]


def draws(device: str) -> Counter:
    return Counter((tuple(c["shape"]), c["dtype"]) for c in cases(CLAIMED, device))


def test_every_claimed_configuration_is_checked_and_only_large_shapes_are_drawn_once():
    on_gpu = draws("cuda")
    for shape, dtype in CLAIMED:
        assert on_gpu[(tuple(shape), dtype)] == (1 if shape == [4096, 4096] else 2)
    for extra in ((1023,), (7, 33), (0,), (1,)):  # odd, non-contiguous, degenerate: two seeds each
        assert on_gpu[(extra, "float16")] == on_gpu[(extra, "float32")] == 2
    claimed = {(tuple(c["shape"]), c["dtype"]) for c in cases(CLAIMED, "cuda") if c["claimed"]}
    assert claimed == {(tuple(shape), dtype) for shape, dtype in CLAIMED}


def test_on_the_cpu_shapes_past_the_interpreters_reach_are_left_out():
    on_cpu = draws("cpu")
    assert not any(shape in ((1024, 1024), (4096, 4096)) for shape, _ in on_cpu)
    assert on_cpu[((1023,), "float32")] == 2
