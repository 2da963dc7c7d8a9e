"""``runner.bench.input_copies``: how many input sets a GPU measurement rotates through. Together
they must exceed L2 several times over, or whether a call hits L2 depends on where the allocator
put them, and one implementation can measure up to 2x slow for a whole measurement
(docs/benchmarks.md, "Rotated inputs and L2")."""

from __future__ import annotations

import pytest
import torch

from pytest_flaggems_import.runner.bench import MAX_CALLS_PER_GRAPH, MIN_COPIES, input_copies

H100_L2 = 50 << 20


def tensors(*shapes, dtype=torch.float16):
    return [torch.empty(shape, dtype=dtype, device="meta") for shape in shapes]


@pytest.mark.parametrize(
    ("args", "copies"),
    [
        (tensors((1024, 1024)), 100),  # 2 MiB a set: 100 sets span 4x L2
        (tensors((1024, 1024), (1024, 1024), dtype=torch.float32), 25),  # 8 MiB a set
        (tensors((4096, 4096), (4096, 4096)), MIN_COPIES),  # 64 MiB a set: at least 8 anyway
        (tensors((4096, 4096), (4096, 4096), dtype=torch.float32), 8),  # 128 MiB: 1 GiB budget
        (tensors((8192, 8192), (8192, 8192), dtype=torch.float32), 2),  # 512 MiB: the budget decides
        (tensors((16384, 16384), dtype=torch.float64), 1),  # 2 GiB: over budget, one set
        (tensors((16,)), MAX_CALLS_PER_GRAPH),  # more sets than a graph has calls would go unused
        ([3.0, "mean"], MAX_CALLS_PER_GRAPH),  # no tensor at all
    ],
)
def test_the_copies_span_l2_four_times_within_the_budget(args, copies):
    assert input_copies(args, H100_L2) == copies


def test_the_span_follows_the_device_and_the_multiple():
    one = tensors((1024, 1024))  # 2 MiB
    assert input_copies(one, 60 << 20) == 120  # an H200's 60 MiB
    assert input_copies(one, H100_L2, multiple=2) == 50
    assert input_copies(one, 0) == MIN_COPIES  # the CPU: no L2 to exceed


def test_synthesised_inputs_are_the_same_whatever_ran_before():
    """The check at the benchmark shape gives one verdict for one operator: its inputs do not
    depend on what the worker ran before (another operator, another configuration)."""
    from pytest_flaggems_import.runner.bench import BenchConfig, make_inputs

    overload = torch.ops.aten.hypot.default  # two tensors
    config = BenchConfig((64, 32), "float16")
    first, _ = make_inputs(overload, config, "cpu", {})
    torch.randn(1000)  # the process's random state moves on
    again, _ = make_inputs(overload, config, "cpu", {})
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], first[1])  # each argument its own data
    other, _ = make_inputs(overload, BenchConfig((64, 32), "float32"), "cpu", {})
    assert not torch.equal(first[0].float(), other[0])  # each configuration its own data
