"""Session files → what a report shows: one ``Report``, built from the dicts ``session.json`` holds
(one session, or several merged: CI shards), so that a rebuilt report and the one a run wrote
are the same. Pure: no I/O, no plotting.

Session files written before a field existed still load: rules default to SPEC §3's (and the
report says they were not recorded), a missing timing section leaves its chart out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_flaggems_import.core.selection import CRITERION, DEFAULT_THRESHOLD
from pytest_flaggems_import.errors import InputError

DIRECTION = {1: ">=", 2: "<="}
METRIC_KEY = {1: "avg_speedup_vs_flaggems", 2: "avg_relative_to_cuda"}
METRIC_LABEL = {1: "speedup vs FlagGems", 2: "time relative to CUDA"}
ITEM_KINDS = ("load", "test_import", "test", "bench", "isolation")  # plugin.props.ItemKind values


@dataclass(frozen=True)
class Row:
    """One operator's line in a batch's decision table."""

    op: str
    batch: int
    category: str
    passed: int
    ran: int
    configs: int
    metric: float | None
    threshold: float
    selected: bool
    reason: str

    @property
    def criterion(self) -> str:
        return f"{METRIC_LABEL[self.batch]} {DIRECTION[self.batch]} {self.threshold:g}"


@dataclass(frozen=True)
class ConfigRow:
    """One measured configuration of an operator, as the decision used it."""

    shape: tuple[int, ...]
    dtype: str
    your_time: float | None
    cuda_time: float | None
    flaggems_time: float | None
    speedup_vs_flaggems: float | None
    relative_to_cuda: float | None
    metric: str  # what was timed: kernel, cudagraph, operator, or "perf file"
    device: str
    spread: tuple[float, float] | None  # the candidate's p20..p80 of that metric, ms, when measured live

    @property
    def label(self) -> str:
        return f"{'x'.join(map(str, self.shape)) or 'scalar'} {self.dtype}"

    @property
    def speed_vs_cuda(self) -> float | None:
        """How fast against CUDA (higher is better): the inverse of ``relative_to_cuda``."""
        return 1.0 / self.relative_to_cuda if self.relative_to_cuda else None


@dataclass(frozen=True)
class Detail:
    """What one operator's section says beyond its row."""

    op: str
    source: str  # the session file it came from
    configs: tuple[ConfigRow, ...]
    unmatched: tuple[str, ...]
    first_failure: str | None
    blocked: str | None
    gate: str
    seconds: Mapping[str, float]


@dataclass
class Report:
    rows: dict[int, list[Row]] = field(default_factory=lambda: {1: [], 2: []})
    details: dict[str, Detail] = field(default_factory=dict)
    sessions: list[dict[str, Any]] = field(default_factory=list)  # per file: source, environment, checks, timing
    rules_recorded: bool = True
    partial: bool = False

    @property
    def operators(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    def selected(self, batch: int) -> list[Row]:
        return [r for r in self.rows[batch] if r.selected]


def build(sessions: Sequence[tuple[str, Mapping[str, Any]]]) -> Report:
    """The report of ``sessions`` (source name, parsed session.json). An operator decided in two
    of them is an input error: merging shards never picks one verdict over another silently."""
    report = Report()
    seen: dict[str, str] = {}
    for source, session in sessions:
        thresholds, recorded = _thresholds(session)
        report.rules_recorded &= recorded
        report.partial |= bool(session.get("partial"))
        report.sessions.append(_session_summary(source, session, thresholds))
        operators = session.get("operators") or {}
        for index, decision in enumerate(session.get("decisions") or []):
            op = str(decision.get("op"))
            if op in seen:
                raise InputError(source, f"$.decisions[{index}]", f"operator {op!r} is also decided in {seen[op]}")
            seen[op] = source
            entry = operators.get(op) or {}
            row = _row(decision, entry, thresholds)
            report.rows[row.batch].append(row)
            report.details[op] = _detail(source, decision, entry)
    for rows in report.rows.values():
        rows.sort(key=lambda r: (not r.selected, r.op))
    return report


def _thresholds(session: Mapping[str, Any]) -> tuple[dict[int, float], bool]:
    rules = session.get("rules")
    if not isinstance(rules, Mapping):
        return dict(DEFAULT_THRESHOLD), False
    given = rules.get("thresholds") or {}
    return {b: float(given.get(str(b), DEFAULT_THRESHOLD[b])) for b in (1, 2)}, True


def _row(decision: Mapping[str, Any], entry: Mapping[str, Any], thresholds: Mapping[int, float]) -> Row:
    batch = 2 if decision.get("batch") == 2 else 1
    return Row(
        op=str(decision.get("op")),
        batch=batch,
        category=str(entry.get("category") or ""),
        passed=int(entry.get("passed") or 0),
        ran=int(entry.get("passed") or 0) + int(entry.get("failed") or 0),
        configs=len(decision.get("configs") or []),
        metric=decision.get(METRIC_KEY[batch]),
        threshold=thresholds[batch],
        selected=bool(decision.get("selected")),
        reason=str(decision.get("reason") or ""),
    )


def _detail(source: str, decision: Mapping[str, Any], entry: Mapping[str, Any]) -> Detail:
    return Detail(
        op=str(decision.get("op")),
        source=source,
        configs=tuple(_config(c) for c in decision.get("configs") or []),
        unmatched=tuple(f"{'x'.join(map(str, u.get('shape', [])))} {u.get('dtype')}" for u in decision.get("unmatched_configs") or []),
        first_failure=entry.get("first_failure"),
        blocked=entry.get("blocked"),
        gate=_gate_text(entry.get("gate")),
        seconds={k: float(v) for k, v in (entry.get("seconds") or {}).items()},
    )


def _config(c: Mapping[str, Any]) -> ConfigRow:
    metric = str(c.get("metric") or "perf file")
    mine = ((c.get("spread") or {}).get("your") or {}).get(metric) or {}
    spread = (mine["p20"], mine["p80"]) if "p20" in mine and "p80" in mine else None
    return ConfigRow(
        shape=tuple(c.get("shape") or ()),
        dtype=str(c.get("dtype")),
        your_time=c.get("your_time"),
        cuda_time=c.get("cuda_time"),
        flaggems_time=c.get("flaggems_time"),
        speedup_vs_flaggems=c.get("speedup_vs_flaggems"),
        relative_to_cuda=c.get("relative_to_cuda"),
        metric=metric,
        device=str(c.get("device") or "perf file"),
        spread=spread,
    )


def _gate_text(gate: Any) -> str:
    if not isinstance(gate, Mapping):
        return "not run (the operator was not about to be selected, or --flaggems-gate=off)"
    if gate.get("error"):
        return f"could not finish: {gate['error']}"
    if gate.get("unsupported"):
        return f"not checked: {gate['unsupported']}"
    wrong, raised, limits = (len(gate.get(k) or []) for k in ("wrong", "raised", "limits"))
    return f"{gate.get('checked', 0)} cases checked; {wrong} wrong, {raised} raised, {limits} limits"


def _session_summary(source: str, session: Mapping[str, Any], thresholds: Mapping[int, float]) -> dict[str, Any]:
    provenance = session.get("provenance") or {}
    rules = session.get("rules") or {}
    return {
        "source": source,
        "environment": {k: provenance.get(k) for k in ("gpu", "driver", "cuda", "torch", "triton", "flag_gems", "device",
                                                        "measured_by", "tool", "created_at") if provenance.get(k)},
        "checks": dict(session.get("checks") or {"isolation": provenance.get("isolation", "not recorded")}),
        "rules": {"aggregate": rules.get("aggregate", "not recorded"),
                  **{f"batch {b}": f"{CRITERION[b]} {DIRECTION[b]} {t:g}" for b, t in thresholds.items()}},
        "timing": dict(session.get("timing") or {}),
        "partial": bool(session.get("partial")),
    }  # fmt: skip
