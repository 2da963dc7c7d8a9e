"""When a measurement has run long enough: the stopping rule of ``bench.time_interleaved``.

The implementations of one configuration are timed in rounds (one graph replay each, in turn),
so a round gives one ratio per pair (candidate / torch, candidate / FlagGems) measured under the
same clocks and temperature: slow drift cancels in the ratio. The decision rests on the median
ratio, so the rule stops once the 95 % confidence interval of every median ratio is within
``REL_HALF_WIDTH`` of it (distribution-free: order statistics of the binomial), or when the
round budget is spent. Pure: no torch, no CUDA.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

REL_HALF_WIDTH = 0.005  # stop when each median ratio is known to +-0.5 % (95 %)
MIN_ROUNDS = 10  # the first n with a distribution-free 95 % interval of the median
MAX_ROUNDS = 40
CONFIDENCE = 0.95


def median_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """The 95 % confidence interval of the median of ``values``, or None when there are too few
    (under 6) for one: ``[x(r), x(n-r+1)]`` with the largest ``r`` whose coverage under the
    binomial(n, 1/2) is still at least 95 % (distribution-free)."""
    n = len(values)
    below, r = 0.0, 0  # below: P(X <= r - 1)
    while 2 * (below + math.comb(n, r) / 2**n) <= 1 - CONFIDENCE:
        below += math.comb(n, r) / 2**n
        r += 1
    if r == 0:
        return None
    ordered = sorted(values)
    return ordered[r - 1], ordered[n - r]


def relative_half_width(values: Sequence[float]) -> float:
    """Half the width of the median's interval relative to the median; inf without an interval."""
    interval = median_interval(values)
    if interval is None:
        return math.inf
    middle = statistics.median(values)
    return (interval[1] - interval[0]) / 2 / abs(middle) if middle else math.inf


def ratios(times: Mapping[str, Sequence[float]], against: str = "your") -> dict[str, list[float]]:
    """Per round, ``against``'s time over each other implementation's."""
    mine = times[against]
    return {impl: [a / b for a, b in zip(mine, other, strict=True)] for impl, other in times.items() if impl != against}


def settled(times: Mapping[str, Sequence[float]], *, target: float = REL_HALF_WIDTH, most: int = MAX_ROUNDS) -> bool:
    """Whether to stop: every median ratio within ``target`` (from ``MIN_ROUNDS`` rounds on),
    or ``most`` rounds done."""
    rounds = min(len(t) for t in times.values())
    if rounds >= most:
        return True
    if rounds < MIN_ROUNDS:
        return False
    return all(relative_half_width(r) <= target for r in ratios(times).values())
