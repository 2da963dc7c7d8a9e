"""The engine's edges, each found by a mutation run (docs/testing.md): exact reasons, the fields of
a rejection, boundaries of the plausibility rules, the forced batches and the order of results."""

import pytest

from pytest_flaggems_import.core.formats import PerfConfig
from pytest_flaggems_import.core.selection import Rules, aggregate, implausible, match_configs, select, versus


def cfg(shape, dtype, t, cuda, **extra):
    return PerfConfig(tuple(shape), dtype, t, cuda, extra)


def rules(batch=None, t1=1.30, t2=1.25, how="mean"):
    return Rules(batch=batch, thresholds={1: t1, 2: t2}, aggregate=how)


def test_a_rejection_is_false_with_its_batch_and_its_exact_reason():
    your = {"nobase": (cfg([4], "float16", 1.0, 1.0),), "unmatched": (cfg([4], "float16", 1.0, 1.0),),
            "empty": (), "has": (cfg([8], "float32", 1.0, 1.0),)}  # fmt: skip
    flaggems = {"unmatched": (cfg([16], "float16", 1.0, 1.0),), "has": (cfg([8], "float32", 2.0, 1.0),)}
    decisions = {d.op: d for d in select(your, flaggems, rules("1"), operators=["noperf"])}
    assert (decisions["nobase"].batch, decisions["nobase"].selected) == (1, False)
    assert decisions["nobase"].reason == "no FlagGems baseline (not in the FlagGems perf data)"
    unmatched = decisions["unmatched"]
    assert (unmatched.batch, unmatched.selected, unmatched.configs) == (1, False, ())
    assert unmatched.reason == "no FlagGems baseline (no matching shape/dtype)"
    assert [(c.shape, c.dtype) for c in unmatched.unmatched] == [((4,), "float16")]
    assert (decisions["noperf"].batch, decisions["noperf"].selected, decisions["noperf"].reason) == (1, False, "no perf data")
    in_batch2 = {d.op: d for d in select({"empty": ()}, None, rules("2"))}["empty"]
    assert (in_batch2.op, in_batch2.batch, in_batch2.selected) == ("empty", 2, False)
    assert in_batch2.reason == "no measured configurations"


def test_batch2_forced_for_an_operator_flaggems_has_is_rejected_as_batch1():
    your = {"has": (cfg([8], "float32", 0.5, 1.0),)}
    flaggems = {"has": (cfg([8], "float32", 2.0, 1.0),)}
    [d] = select(your, flaggems, rules("2"))
    assert (d.batch, d.selected, d.reason) == (1, False, "belongs to batch 1: FlagGems already has it")


@pytest.mark.parametrize("forced", ["1", "2"])
def test_a_forced_batch_wins_over_the_folder_and_the_data(forced):
    your = {"op": (cfg([8], "float32", 0.5, 1.0),)}
    flaggems = {"other": (cfg([8], "float32", 2.0, 1.0),)}
    folder = 2 if forced == "1" else 1
    [d] = select(your, flaggems, rules(forced), folders={"op": folder}, operators=["op"])
    assert d.batch == int(forced)
    [no_perf] = select({}, flaggems, rules(forced), folders={"x": folder}, operators=["x"])
    assert no_perf.batch == int(forced)


def test_an_operator_without_perf_data_keeps_its_folders_batch():
    [d] = select({}, None, rules(), folders={"x": 1}, operators=["x"])
    assert (d.batch, d.reason) == (1, "no perf data")


def test_worst_is_the_slowest_config_in_each_direction_of_batch1():
    your = {"a": (cfg([4], "float16", 1.0, 2.0), cfg([8], "float16", 1.0, 0.5))}  # relative to CUDA 0.5 and 2.0
    flaggems = {"a": (cfg([4], "float16", 3.0, 1.0), cfg([8], "float16", 1.5, 1.0))}  # speedups 3.0 and 1.5
    [d] = select(your, flaggems, rules("1", how="worst"))
    assert d.avg_speedup_vs_flaggems == 1.5 and d.avg_relative_to_cuda == 2.0
    assert d.selected and d.reason == "worst speedup vs FlagGems 1.500x >= 1.3x"


def test_batch2_reasons_say_which_side_of_the_threshold():
    your = {"fast": (cfg([4], "float16", 0.9, 1.0),), "slow": (cfg([4], "float16", 1.3, 1.0),)}
    decisions = {d.op: d for d in select(your, None, rules("2"))}
    assert decisions["fast"].reason == "mean time relative to CUDA 0.900 <= 1.25"
    assert decisions["slow"].reason == "mean time relative to CUDA 1.300 > 1.25"


@pytest.mark.parametrize(("value", "threshold", "shown"), [
    (0.1 * (1 + 2e-9), 0.1, "0.100000000200"),  # 9 digits would print the threshold itself
    (1e-4 * (1 + 2e-9), 1e-4, "0.00010000000020000"),  # 3 digits print 0.000, below it; 12 the threshold
    (1e-9 * (1 + 2e-9), 1e-9, "1.000000002e-09"),  # 17 digits would too: repr
])  # fmt: skip
def test_a_rejected_value_is_never_printed_as_its_threshold(value, threshold, shown):
    assert versus(value, threshold, selected=False) == shown
    assert versus(value, threshold, selected=True) == f"{value:.3f}"


def test_selected_operators_come_first_within_a_batch_whatever_their_names():
    your = {"a_slow": (cfg([4], "float16", 2.0, 1.0),), "z_fast": (cfg([4], "float16", 0.5, 1.0),)}
    ordered = [d.op for d in select({**your, "m_ok": (cfg([4], "float16", 1.0, 1.0),)}, None, rules("2"))]
    assert ordered == ["z_fast", "m_ok", "a_slow"]
    blocked = select(your, None, rules("2"), blocked={"z_fast": "tests failed"})
    assert next(d for d in blocked if d.op == "z_fast").selected is False


def test_an_implausible_operator_is_rejected_with_false_and_its_place():
    your = {"a": (cfg([1024, 1024], "float16", 0.01, 1.0),)}
    [d] = select(your, None, rules("2"))
    assert d.selected is False
    assert d.reason == "implausible: 100.0x faster than CUDA at float16 1024x1024 (--flaggems-allow-implausible)"


def test_exactly_ten_times_faster_is_not_above_ten():
    [m], _ = match_configs([cfg([4], "float16", 0.1, 1.0)], [cfg([4], "float16", 1.0, 1.0)])
    assert m.speedup_vs_flaggems == pytest.approx(10.0) and implausible([m]) is None
    [m], _ = match_configs([cfg([4], "float16", 1.0, 1.0)], [cfg([4], "float16", 10.0, 1.0)])
    assert implausible([m]) is None


def test_bandwidth_rule_needs_both_numbers_and_a_peak_above_zero():
    def config(**extra):
        return match_configs([cfg([4], "float32", 1.0, 1.0, **extra)], None)[0]

    assert implausible(config(bytes=1e9)) is None  # no peak recorded
    assert implausible(config(bytes=1e9, peak_bandwidth=0)) is None
    assert implausible(config(bytes=0.95e9, peak_bandwidth=1e12)) is None  # exactly 95 %: not above
    assert implausible(config(bytes=0.96e9, peak_bandwidth=1e12)) == "96% of the device's peak memory bandwidth at float32 4"


def test_aggregating_nothing_says_so():
    with pytest.raises(ValueError, match="^nothing to aggregate$"):
        aggregate([], "mean", higher_is_better=True)


def test_a_tie_is_printed_at_three_decimals_in_both_batches():
    your = {"a": (cfg([4], "float16", 1.0, 0.8),), "b": (cfg([4], "float16", 1.25, 1.0),)}
    flaggems = {"a": (cfg([4], "float16", 1.3, 0.8),)}
    decisions = {d.op: d for d in select(your, flaggems, rules())}
    assert decisions["a"].reason == "mean speedup vs FlagGems 1.300x >= 1.3x"
    assert decisions["b"].reason == "mean time relative to CUDA 1.250 <= 1.25"


def test_an_operator_without_perf_data_takes_its_batch_from_the_flaggems_data_unless_forced():
    flaggems = {"has": (cfg([8], "float32", 1.0, 1.0),)}
    [auto] = select({}, flaggems, rules(), operators=["has"])
    assert (auto.batch, auto.reason) == (1, "no perf data")
    [forced] = select({}, flaggems, rules("2"), operators=["has"])
    assert forced.batch == 2
