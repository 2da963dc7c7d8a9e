"""``runner.bench.tunes_itself``: which candidates time themselves on their first call at a shape.

A benchmark item checks the candidate at its configuration while other workers' tests share the
GPU; a candidate with an autotuner would pick its config from timings taken beside them (slower
or faster by chance), so for it that first call takes the GPU alone (docs/benchmarks.md)."""

from __future__ import annotations

import sys
import types

import triton
import triton.language as tl

from pytest_flaggems_import.core.names import parse_op_name
from pytest_flaggems_import.runner.bench import flaggems_tunes, tunes_itself


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


# -- FlagGems' own implementations (bench.flaggems_tunes) ---------------------------------------
# A benchmark's check also makes FlagGems' first calls (its kernels compile then, sharing the GPU,
# not during the measurement alone on it), unless that first call may time FlagGems' configs.


def flaggems_like(monkeypatch, table, **modules) -> None:
    """An installed ``flag_gems`` registering ``table`` (name -> function), its modules by name."""
    package = module(_FULL_CONFIG=tuple(table.items()))
    monkeypatch.setitem(sys.modules, "flag_gems", package)
    for name, made in modules.items():
        made.__name__ = name
        monkeypatch.setitem(sys.modules, name, made)


def defined_in(module_name: str):
    def implementation(*args):
        return args

    implementation.__module__ = module_name
    return implementation


def test_flaggems_implementations_with_an_autotuner_near_them_tune(monkeypatch):
    helper = defined_in("flag_gems.ops.reduce")  # a name the op's module imports from another
    flaggems_like(
        monkeypatch,
        {"abs": defined_in("flag_gems.ops.abs"), "mv": defined_in("flag_gems.ops.mv"),
         "mean": defined_in("flag_gems.ops.mean"), "add.Tensor": defined_in("flag_gems.ops.add")},
        **{"flag_gems.ops.abs": module(kernel=plain_kernel), "flag_gems.ops.mv": module(kernel=tuned_kernel),
           "flag_gems.ops.mean": module(helper=helper, kernel=plain_kernel),
           "flag_gems.ops.reduce": module(kernel=heuristics_under_autotune),
           "flag_gems.ops.add": module(kernel=plain_kernel, other=types)},
    )  # fmt: skip
    assert not flaggems_tunes(parse_op_name("abs"))
    assert flaggems_tunes(parse_op_name("mv"))
    assert flaggems_tunes(parse_op_name("mean"))  # its module takes a tuned kernel's neighbour from flag_gems.ops.reduce
    assert not flaggems_tunes(parse_op_name("add"))  # found as add.Tensor, as flaggems_implements finds it


def test_an_implementation_not_found_counts_as_tuning(monkeypatch):
    flaggems_like(monkeypatch, {"abs": defined_in("flag_gems.ops.gone")})  # its module not imported
    assert flaggems_tunes(parse_op_name("abs"))
    assert flaggems_tunes(parse_op_name("neg"))  # not registered at all


def test_flaggems_first_call_runs_under_use_gems_on_copies_of_the_checked_inputs(monkeypatch):
    """An in-place operator's FlagGems call must not write the inputs the measurement then uses."""
    import contextlib

    import torch

    from pytest_flaggems_import.runner.bench import Checked, first_flaggems_calls

    active, seen = [], []

    @contextlib.contextmanager
    def use_gems():
        active.append(True)
        try:
            yield
        finally:
            active.pop()

    monkeypatch.setitem(sys.modules, "flag_gems", module(use_gems=use_gems))

    def relu_(x):
        seen.append((bool(active), x))
        return x.clamp_(min=0)

    checked = Checked(reference=relu_, args=[torch.tensor([-1.0, 2.0])], kwargs={})
    first_flaggems_calls(checked)
    (under_gems, given), = seen
    assert under_gems and given is not checked.args[0]
    assert checked.args[0].tolist() == [-1.0, 2.0]
