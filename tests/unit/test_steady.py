"""The stopping rule of the GPU timing (``runner.steady``): pure arithmetic, checked here."""

import math
import random

from pytest_flaggems_import.runner import steady


def test_the_median_interval_is_the_binomial_order_statistics():
    assert steady.median_interval([1.0] * 5) is None  # min..max of 5 covers only 93.75 %
    values = list(range(10, 0, -1))
    assert steady.median_interval(values) == (2, 9)  # ranks 2 and 9 of 10: 97.9 % coverage
    assert steady.median_interval(list(range(6))) == (0, 5)  # 96.9 %


def test_the_interval_covers_the_true_median_about_95_percent_of_the_time():
    rng = random.Random(7)
    hits = 0
    for _ in range(2000):
        values = [rng.lognormvariate(0, 0.1) for _ in range(20)]
        low, high = steady.median_interval(values)
        hits += low <= 1.0 <= high  # the lognormal's median is exp(0) = 1
    assert 0.94 <= hits / 2000 <= 0.995


def test_ratios_are_per_round_against_the_candidate():
    times = {"your": [1.0, 2.0], "cuda": [2.0, 2.0], "flaggems": [4.0, 1.0]}
    assert steady.ratios(times) == {"cuda": [0.5, 1.0], "flaggems": [0.25, 2.0]}


def test_a_steady_measurement_stops_at_ten_rounds_a_noisy_one_at_the_budget():
    quiet = {"your": [1.0 + 0.001 * (i % 3) for i in range(10)], "cuda": [2.0] * 10}
    assert not steady.settled({k: v[:9] for k, v in quiet.items()})  # too few rounds for an interval
    assert steady.settled(quiet)
    rng = random.Random(1)
    noisy = {"your": [rng.uniform(0.5, 1.5) for _ in range(39)], "cuda": [1.0] * 39}
    assert not steady.settled(noisy)
    assert steady.settled({"your": [*noisy["your"], 1.0], "cuda": [1.0] * 40})  # the budget


def test_a_zero_or_nan_ratio_never_counts_as_settled_before_the_budget():
    assert steady.relative_half_width([0.0] * 12) == math.inf
    assert not steady.settled({"your": [math.nan] * 12, "cuda": [1.0] * 12})
    assert not steady.settled({"your": [0.0] * 12, "cuda": [1.0] * 12})
