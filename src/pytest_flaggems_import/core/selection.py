"""The selection engine (SPEC §3): match configurations, compute metrics, aggregate, decide.

Pure functions over ``PerfTable`` values; no I/O, no pytest, no torch. Every number a report
shows comes from here, unrounded (rounding happens only when files are written).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import msgspec

from pytest_flaggems_import.core.formats import PerfConfig, PerfTable

Aggregate = Literal["mean", "geomean", "median", "worst"]
AGGREGATES: tuple[Aggregate, ...] = ("mean", "geomean", "median", "worst")
BatchChoice = Literal["1", "2", "auto"]
DEFAULT_THRESHOLD = {1: 1.30, 2: 1.25}
CRITERION = {1: "speedup_vs_flaggems", 2: "relative_to_cuda"}
TIE_TOLERANCE = 1e-9
"""Relative slack of a threshold comparison: a tie selects (SPEC §3), and a mean of 1.2x and 1.4x
is 1.2999999999999998 in floating point. One part in a billion absorbs such rounding (a few ulps
after summing thousands of configs) and is far below any timing's resolution."""


def meets(value: float, threshold: float, *, higher_is_better: bool) -> bool:
    """``value >= threshold`` (or ``<=``), a tie within ``TIE_TOLERANCE`` included."""
    slack = abs(threshold) * TIE_TOLERANCE
    return value >= threshold - slack if higher_is_better else value <= threshold + slack


def versus(value: float, threshold: float, selected: bool) -> str:
    """``value`` as text that never contradicts the verdict: 3 decimals, more if those would
    print a rejected value equal to its threshold or on its other side (1.2999995 is
    "1.2999995", not "1.300"; 0.0001000002 against 0.0001 is not "0.000")."""
    below = value < threshold
    for digits in (3, 6, 9, 12, 17):
        text = f"{value:.{digits}f}"
        shown = float(text)
        if selected or (shown != threshold and (shown < threshold) == below):
            return text
    return repr(value)


class ConfigMetrics(msgspec.Struct, frozen=True, gc=False):
    """One matched configuration and its two metrics (a Struct for the reason ``PerfConfig`` is)."""

    shape: tuple[int, ...]
    dtype: str
    your_time: float
    cuda_time: float
    flaggems_time: float | None
    speedup_vs_flaggems: float | None  # flaggems_time / your_time; higher is better
    relative_to_cuda: float  # your_time / cuda_time; lower is better
    extra: dict = {}


@dataclass(frozen=True)
class Decision:
    op: str
    batch: int
    selected: bool
    reason: str  # why it was selected or rejected, one line
    configs: tuple[ConfigMetrics, ...] = ()
    unmatched: tuple[PerfConfig, ...] = ()
    avg_speedup_vs_flaggems: float | None = None
    avg_relative_to_cuda: float | None = None

    @property
    def score(self) -> float:
        """Sort key: higher is better in both batches."""
        if self.batch == 1 and self.avg_speedup_vs_flaggems is not None:
            return self.avg_speedup_vs_flaggems
        if self.avg_relative_to_cuda:
            return 1.0 / self.avg_relative_to_cuda
        return -math.inf


@dataclass(frozen=True)
class Rules:
    batch: BatchChoice | None = None  # None: folders first, then the data (SPEC §3)
    thresholds: Mapping[int, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLD))
    aggregate: Aggregate = "mean"
    allow_implausible: bool = False  # SPEC 8: select numbers that look too good (see ``implausible``)


IMPLAUSIBLE_SPEEDUP = 10.0  # SPEC 8: a speedup above 10x (vs FlagGems or vs CUDA) is reported
IMPLAUSIBLE_BANDWIDTH = 0.95  # SPEC 8: a time implying > 95 % of the device's peak memory bandwidth


def implausible(configs: Sequence[ConfigMetrics]) -> str | None:
    """Why these numbers are too good to believe without a second look, or None.

    A speedup above 10x over FlagGems or over CUDA; or, where a live measurement recorded the
    bytes the op must move (``extra["bytes"]``: inputs read, outputs written) and the device's
    peak bandwidth (``extra["peak_bandwidth"]``, bytes/s), a time implying more than 95 % of it."""
    for c in configs:
        where = f"{c.dtype} {'x'.join(map(str, c.shape))}"
        if c.speedup_vs_flaggems is not None and c.speedup_vs_flaggems > IMPLAUSIBLE_SPEEDUP:
            return f"{c.speedup_vs_flaggems:.1f}x faster than FlagGems at {where}"
        if c.cuda_time / c.your_time > IMPLAUSIBLE_SPEEDUP:
            return f"{c.cuda_time / c.your_time:.1f}x faster than CUDA at {where}"
        moved, peak = c.extra.get("bytes"), c.extra.get("peak_bandwidth")
        if isinstance(moved, (int, float)) and isinstance(peak, (int, float)) and peak > 0:
            share = moved / (c.your_time * 1e-3) / peak
            if share > IMPLAUSIBLE_BANDWIDTH:
                return f"{share:.0%} of the device's peak memory bandwidth at {where}"
    return None


def _geomean(values: Sequence[float]) -> float:
    return math.exp(math.fsum(math.log(v) for v in values) / len(values))


_AGGREGATORS: dict[str, Callable[[Sequence[float]], float]] = {
    "mean": statistics.fmean,
    "geomean": _geomean,
    "median": statistics.median,
}


def aggregate(values: Sequence[float], how: Aggregate, *, higher_is_better: bool) -> float:
    """Aggregate per-config metrics; ``worst`` is the conservative end for that direction."""
    if not values:
        raise ValueError("nothing to aggregate")
    if how == "worst":
        return min(values) if higher_is_better else max(values)
    return _AGGREGATORS[how](values)


def match_configs(
    your: Sequence[PerfConfig], flaggems: Sequence[PerfConfig] | None
) -> tuple[list[ConfigMetrics], list[PerfConfig]]:
    """Pair configurations on (shape, canonical dtype); return metrics and the unmatched ones.

    Without FlagGems data (batch 2) every configuration stands alone and none is unmatched.
    """
    if flaggems is None:
        return [_metrics(cfg, None) for cfg in your], []
    by_key = {cfg.key: cfg for cfg in flaggems}
    matched, unmatched = [], []
    for cfg in your:
        fg = by_key.get(cfg.key)
        if fg is None:
            unmatched.append(cfg)
        else:
            matched.append(_metrics(cfg, fg))
    return matched, unmatched


def _metrics(cfg: PerfConfig, fg: PerfConfig | None) -> ConfigMetrics:
    fg_time = None if fg is None else fg.time_ms
    return ConfigMetrics(
        shape=cfg.shape,
        dtype=cfg.dtype,
        your_time=cfg.time_ms,
        cuda_time=cfg.cuda_time_ms,
        flaggems_time=fg_time,
        speedup_vs_flaggems=None if fg_time is None else fg_time / cfg.time_ms,
        relative_to_cuda=cfg.time_ms / cfg.cuda_time_ms,
        extra=cfg.extra,
    )


def decide_batch1(
    op: str, your: Sequence[PerfConfig], flaggems: Sequence[PerfConfig], threshold: float, how: Aggregate
) -> Decision:
    matched, unmatched = match_configs(your, flaggems)
    if not matched:
        return Decision(op, 1, False, "no FlagGems baseline (no matching shape/dtype)", (), tuple(unmatched))
    speedup = aggregate([m.speedup_vs_flaggems for m in matched], how, higher_is_better=True)  # type: ignore[misc]
    relative = aggregate([m.relative_to_cuda for m in matched], how, higher_is_better=False)
    selected = meets(speedup, threshold, higher_is_better=True)  # SPEC §3: unrounded; a tie selects
    verdict = ">=" if selected else "<"
    reason = f"{how} speedup vs FlagGems {versus(speedup, threshold, selected)}x {verdict} {threshold:g}x"
    return Decision(op, 1, selected, reason, tuple(matched), tuple(unmatched), speedup, relative)


def decide_batch2(op: str, your: Sequence[PerfConfig], threshold: float, how: Aggregate) -> Decision:
    matched, _ = match_configs(your, None)
    if not matched:
        return Decision(op, 2, False, "no measured configurations")
    relative = aggregate([m.relative_to_cuda for m in matched], how, higher_is_better=False)
    selected = meets(relative, threshold, higher_is_better=False)
    verdict = "<=" if selected else ">"
    reason = f"{how} time relative to CUDA {versus(relative, threshold, selected)} {verdict} {threshold:g}"
    return Decision(op, 2, selected, reason, tuple(matched), (), None, relative)


def assign_batch(op: str, choice: BatchChoice | None, flaggems: PerfTable | None, folder: int | None) -> int:
    """SPEC §3: ``1``/``2`` force a batch; by default a ``batchN/`` folder decides; otherwise, or
    with ``auto``, an operator present in the FlagGems data is batch 1 and any other batch 2."""
    if choice in ("1", "2"):
        return int(choice)
    if choice is None and folder is not None:
        return folder
    return 1 if flaggems is not None and op in flaggems else 2


def select(
    your: PerfTable,
    flaggems: PerfTable | None,
    rules: Rules,
    *,
    blocked: Mapping[str, str] | None = None,
    folders: Mapping[str, int] | None = None,
    operators: Iterable[str] = (),
) -> list[Decision]:
    """Decide every operator of ``your`` (and of ``operators``), best first within each batch.

    ``blocked`` maps an operator to the reason it cannot be selected whatever its speed (failed
    tests, code that does not load: SPEC §1); its numbers are still computed and reported.
    ``folders`` gives the batch of operators that sit in a ``batch1/``/``batch2/`` folder.
    ``operators`` names operator files that may lack perf data; those are rejected as such.
    """
    blocked = blocked or {}
    folders = folders or {}
    decisions = []
    for op in dict.fromkeys([*your, *operators]):
        if op in your:
            decision = _decide_one(op, your[op], flaggems, rules, folders.get(op))
            why = None if rules.allow_implausible or not decision.selected else implausible(decision.configs)
            if why is not None:
                decision = replace(decision, selected=False, reason=f"implausible: {why} (--flaggems-allow-implausible)")
        else:
            batch = assign_batch(op, rules.batch, flaggems, folders.get(op))
            decision = Decision(op, batch, False, "no perf data")
        if op in blocked:
            decision = replace(decision, selected=False, reason=f"{blocked[op]} ({decision.reason})")
        decisions.append(decision)
    return sorted(decisions, key=lambda d: (d.batch, not d.selected, -d.score, d.op))


def _decide_one(
    op: str, configs: Sequence[PerfConfig], flaggems: PerfTable | None, rules: Rules, folder: int | None
) -> Decision:
    if rules.batch == "2" and flaggems is not None and op in flaggems:
        # SPEC §3: batch 2 means "FlagGems lacks it", and the FlagGems data says it has it.
        return Decision(op, 1, False, "belongs to batch 1: FlagGems already has it")
    batch = assign_batch(op, rules.batch, flaggems, folder)
    if batch == 2:
        return decide_batch2(op, configs, rules.thresholds[2], rules.aggregate)
    baseline = (flaggems or {}).get(op)
    if baseline is None:
        return Decision(op, 1, False, "no FlagGems baseline (not in the FlagGems perf data)")
    return decide_batch1(op, configs, baseline, rules.thresholds[1], rules.aggregate)
