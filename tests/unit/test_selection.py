"""The engine on hand-computed cases (SPEC §3)."""

import pytest

from pytest_flaggems_import.core.formats import PerfConfig
from pytest_flaggems_import.core.selection import Rules, aggregate, select


def cfg(shape, dtype, t, cuda):
    return PerfConfig(tuple(shape), dtype, t, cuda)


def rules(batch=None, t1=1.30, t2=1.25, how="mean"):
    return Rules(batch=batch, thresholds={1: t1, 2: t2}, aggregate=how)


def test_seed_example_gelu_is_1_4x_and_half_the_cuda_time():
    your = {"gelu": (cfg([256, 256], "float32", 0.5, 1.0),)}
    flaggems = {"gelu": (cfg([256, 256], "float32", 0.7, 1.0),)}
    [d] = select(your, flaggems, rules("1"))
    assert d.selected
    assert d.configs[0].speedup_vs_flaggems == pytest.approx(1.4)
    assert d.configs[0].relative_to_cuda == pytest.approx(0.5)


def test_tie_at_the_threshold_is_selected_in_both_batches():
    your = {"a": (cfg([4], "float16", 1.0, 0.8),), "b": (cfg([4], "float16", 1.25, 1.0),)}
    flaggems = {"a": (cfg([4], "float16", 1.3, 0.8),)}
    decisions = {d.op: d for d in select(your, flaggems, rules())}
    assert decisions["a"].batch == 1 and decisions["a"].selected
    assert decisions["b"].batch == 2 and decisions["b"].selected


def test_a_tie_reached_through_float_rounding_still_selects():
    # mean(1.2, 1.4) is 1.2999999999999998 in floating point; 0.6125 / 0.49 is 1.2500000000000002.
    your = {"a": (cfg([4], "float16", 1.0, 1.0), cfg([8], "float16", 1.0, 1.0)), "b": (cfg([4], "float16", 0.6125, 0.49),)}
    flaggems = {"a": (cfg([4], "float16", 1.2, 1.0), cfg([8], "float16", 1.4, 1.0))}
    decisions = {d.op: d for d in select(your, flaggems, rules())}
    assert decisions["a"].avg_speedup_vs_flaggems < 1.3 and decisions["a"].selected
    assert decisions["b"].avg_relative_to_cuda > 1.25 and decisions["b"].selected
    assert "1.300x >= 1.3x" in decisions["a"].reason


def test_just_below_the_threshold_is_rejected_with_digits_that_show_it():
    your = {"a": (cfg([4], "float16", 1.0, 1.0),)}
    flaggems = {"a": (cfg([4], "float16", 1.2999, 1.0),)}
    [d] = select(your, flaggems, rules("1"))
    assert not d.selected
    assert "1.299900x < 1.3x" in d.reason  # never "1.300x < 1.3x"


def test_a_batch2_threshold_other_than_the_default_is_applied():
    your = {"b": (cfg([4], "float16", 1.5, 1.0),), "c": (cfg([4], "float16", 2.5, 1.0),)}
    decisions = {d.op: d for d in select(your, None, rules("2", t2=2.0))}
    assert decisions["b"].selected and not decisions["c"].selected
    assert decisions["c"].reason == "mean time relative to CUDA 2.500 > 2"


@pytest.mark.parametrize(
    ("how", "expected"), [("mean", 2.0), ("geomean", 5.25 ** (1 / 3)), ("median", 1.5), ("worst", 1.0)]
)
def test_aggregations_of_speedups(how, expected):
    assert aggregate([1.0, 1.5, 3.5], how, higher_is_better=True) == pytest.approx(expected)


def test_worst_is_the_highest_relative_time_in_batch2():
    your = {"op": (cfg([1], "float32", 1.0, 1.0), cfg([2], "float32", 1.4, 1.0))}
    [d] = select(your, None, rules("2", how="worst"))
    assert d.avg_relative_to_cuda == pytest.approx(1.4)
    assert not d.selected


def test_unmatched_configs_are_reported_and_left_out_of_the_average():
    your = {"gelu": (cfg([8], "float16", 1.0, 1.0), cfg([16], "float16", 10.0, 1.0))}
    flaggems = {"gelu": (cfg([8], "float16", 2.0, 1.0),)}
    [d] = select(your, flaggems, rules("1"))
    assert d.avg_speedup_vs_flaggems == pytest.approx(2.0)
    assert d.avg_relative_to_cuda == pytest.approx(1.0)  # the unmatched config's 10.0 is not in it
    assert [c.shape for c in d.unmatched] == [(16,)]


def test_batch1_operator_without_matching_configs_has_no_baseline():
    your = {"gelu": (cfg([8], "float16", 1.0, 1.0),)}
    flaggems = {"gelu": (cfg([8], "float32", 2.0, 1.0),)}
    [d] = select(your, flaggems, rules("1"))
    assert not d.selected and "no FlagGems baseline" in d.reason


def test_batch2_leaves_out_operators_that_flaggems_has():
    your = {"gelu": (cfg([8], "float16", 0.1, 1.0),), "huber": (cfg([8], "float16", 0.9, 1.0),)}
    flaggems = {"gelu": (cfg([8], "float16", 2.0, 1.0),)}
    decisions = {d.op: d for d in select(your, flaggems, rules("2"))}
    assert decisions["gelu"].batch == 1 and not decisions["gelu"].selected
    assert "belongs to batch 1" in decisions["gelu"].reason
    assert decisions["huber"].selected


def test_batch2_without_flaggems_data_takes_every_operator():
    your = {"gelu": (cfg([8], "float16", 0.5, 1.0),), "relu": (cfg([8], "float16", 2.0, 1.0),)}
    decisions = {d.op: d for d in select(your, None, rules("2"))}
    assert decisions["gelu"].batch == decisions["relu"].batch == 2
    assert decisions["gelu"].selected and not decisions["relu"].selected


def test_folders_decide_the_batch_unless_auto():
    your = {"gelu": (cfg([8], "float16", 0.5, 1.0),)}
    flaggems = {"gelu": (cfg([8], "float16", 1.0, 1.0),)}
    [by_folder] = select(your, flaggems, rules(None), folders={"gelu": 2})
    [by_data] = select(your, flaggems, rules("auto"), folders={"gelu": 2})
    assert (by_folder.batch, by_data.batch) == (2, 1)


def test_blocked_operator_is_rejected_however_fast_and_keeps_its_numbers():
    your = {"gelu": (cfg([8], "float16", 0.1, 1.0),)}
    flaggems = {"gelu": (cfg([8], "float16", 1.0, 1.0),)}
    [d] = select(your, flaggems, rules("1"), blocked={"gelu": "tests failed: 1 of 4"})
    assert not d.selected
    assert d.reason.startswith("tests failed: 1 of 4")
    assert d.avg_speedup_vs_flaggems == pytest.approx(10.0)


def test_operator_files_without_perf_data_are_rejected_as_such():
    decisions = select({}, None, rules(), operators=["lonely"])
    assert [(d.op, d.selected, d.reason) for d in decisions] == [("lonely", False, "no perf data")]


def test_best_operators_come_first():
    your = {op: (cfg([8], "float16", t, 1.0),) for op, t in [("slow", 0.9), ("fast", 0.2), ("mid", 0.5)]}
    assert [d.op for d in select(your, None, rules("2"))] == ["fast", "mid", "slow"]


def test_numbers_too_good_to_believe_are_not_selected_unless_allowed():
    """SPEC 8, plausibility: above 10x, or beyond 95 % of the device's peak bandwidth."""
    your = {
        "fast": (cfg([1024], "float32", 0.1, 1.2),),  # 12x faster than CUDA
        "plain": (cfg([1024], "float32", 0.5, 1.0),),
        "bandwidth": (PerfConfig((1 << 20,), "float32", 0.002, 0.004, {"bytes": 8 << 20, "peak_bandwidth": 3.35e12}),),
    }
    decisions = {d.op: d for d in select(your, None, rules("2"))}
    assert decisions["plain"].selected
    assert decisions["fast"].reason.startswith("implausible: 12.0x faster than CUDA at float32 1024")
    assert decisions["bandwidth"].reason.startswith("implausible: 125% of the device's peak memory bandwidth")
    allowed = {d.op: d for d in select(your, None, Rules(batch="2", allow_implausible=True))}
    assert allowed["fast"].selected and allowed["bandwidth"].selected
