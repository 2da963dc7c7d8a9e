"""``runner.bench.tunes_itself``: which candidates time themselves on their first call at a shape.

A benchmark item checks the candidate at its configuration while other workers' tests share the
GPU; a candidate with an autotuner would pick its config from timings taken beside them (slower
or faster by chance), so for it that first call takes the GPU alone (docs/benchmarks.md)."""

from __future__ import annotations

import types

import triton
import triton.language as tl

from pytest_flaggems_import.runner.bench import tunes_itself


@triton.jit
def plain_kernel(x_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(x_ptr + offsets, tl.load(x_ptr + offsets, mask=offsets < n), mask=offsets < n)


CONFIGS = [triton.Config({"BLOCK": 128}), triton.Config({"BLOCK": 1024})]
tuned_kernel = triton.autotune(configs=CONFIGS, key=["n"])(plain_kernel)
tuned_under_heuristics = triton.heuristics({"EVEN": lambda args: args["n"] % 2 == 0})(tuned_kernel)
heuristics_under_autotune = triton.autotune(configs=CONFIGS, key=["n"])(
    triton.heuristics({"EVEN": lambda args: args["n"] % 2 == 0})(plain_kernel)
)


def module(**names) -> types.ModuleType:
    made = types.ModuleType("candidate")
    made.__dict__.update(names)
    return made


def test_a_module_of_plain_kernels_does_not_tune():
    assert not tunes_itself(module(kernel=plain_kernel, torch_like=types, number=3))


def test_an_autotuned_kernel_tunes_however_it_is_wrapped():
    assert tunes_itself(module(kernel=tuned_kernel))
    assert tunes_itself(module(kernel=tuned_under_heuristics))
    assert tunes_itself(module(other=plain_kernel, kernel=heuristics_under_autotune))


class Hostile:
    """A candidate's object whose attributes raise: asking must not fail the benchmark."""

    def __getattr__(self, name):
        raise RuntimeError(f"no {name} for you")


def test_objects_that_raise_on_attribute_access_are_passed_over():
    assert not tunes_itself(module(thing=Hostile()))
    assert tunes_itself(module(thing=Hostile(), kernel=tuned_kernel))
