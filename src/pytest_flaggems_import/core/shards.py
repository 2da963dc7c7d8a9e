"""CI shards: which operators shard I of N screens (``--flaggems-shard=I/N``), and the shards'
session files merged into what one run would have written (``flaggems-import merge``).

An operator's shard comes from a hash of its name (SHA-256, not Python's salted ``hash``), so
every machine and every run puts it in the same shard, whatever else is in the folder. Each
operator is decided on its own numbers (SPEC §3), so the union of the shards' decisions is one
run's decisions; the merge only refuses what would make it otherwise (an operator in two
shards, shards run with different rules). Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_flaggems_import.core.formats import PerfConfig
from pytest_flaggems_import.core.selection import ConfigMetrics, Decision, Rules
from pytest_flaggems_import.errors import InputError, UsageError

_METRIC_KEYS = ("shape", "dtype", "your_time", "cuda_time", "flaggems_time", "speedup_vs_flaggems", "relative_to_cuda")


def parse_shard(text: Any) -> tuple[int, int]:
    """``"2/4"`` → ``(2, 4)``: shard 2 of 4 (numbered from 1)."""
    index, _, count = str(text).partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        raise UsageError(f"expected I/N (shard I of N, e.g. 1/4), got {text!r}") from None
    if not 1 <= shard[0] <= shard[1]:
        raise UsageError(f"expected 1 <= I <= N in I/N, got {text!r}")
    return shard


def shard_of(op: str, count: int) -> int:
    """The shard (1..count) that screens ``op``."""
    return int.from_bytes(hashlib.sha256(op.encode("utf-8")).digest()[:8], "big") % count + 1


def in_shard(op: str, shard: tuple[int, int] | None) -> bool:
    return shard is None or shard_of(op, shard[1]) == shard[0]


def merge(sessions: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[dict[str, Any], list[Decision]]:
    """One session dict from the shards' (source name, session.json), and its decisions in
    ``selection.select``'s order."""
    if not sessions:
        raise UsageError("nothing to merge")
    first_source, first = sessions[0]
    rules = first.get("rules")
    if not isinstance(rules, Mapping):
        raise InputError(first_source, "$", "no rules recorded (a session file from before shards): run the shard again")
    owner: dict[str, str] = {}
    operators: dict[str, Any] = {}
    decisions: list[Decision] = []
    for source, session in sessions:
        if session.get("rules") != rules:
            raise InputError(source, "$.rules", f"{session.get('rules')} differ from {first_source}'s {rules}")
        for index, decision in enumerate(session.get("decisions") or []):
            op = decision["op"]
            if op in owner:
                raise InputError(source, f"$.decisions[{index}]", f"operator {op!r} is also decided in {owner[op]}")
            owner[op] = source
            decisions.append(decision_from_dict(decision))
        operators.update(session.get("operators") or {})
    decisions.sort(key=_order)
    as_written = {d["op"]: dict(d) for _, s in sessions for d in s.get("decisions") or []}
    merged = {
        "partial": any(bool(s.get("partial")) for _, s in sessions),
        "interrupted": any(bool(s.get("interrupted")) for _, s in sessions),
        "provenance": {**(first.get("provenance") or {}), "shards": [source for source, _ in sessions]},
        "rules": dict(rules),
        "checks": dict(first.get("checks") or {}),
        "timing": _timing([s.get("timing") or {} for _, s in sessions]),
        "operators": {op: operators[op] for op in sorted(operators)},
        "decisions": [as_written[d.op] for d in decisions],
    }
    return merged, decisions


def _order(d: Decision) -> tuple[int, bool, float, str]:
    """``selection.select``'s order: by batch, selected first, best first, then by name."""
    return d.batch, not d.selected, -d.score, d.op


def _timing(timings: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Shards run side by side: each phase took as long as its slowest shard; workers add up."""
    phases = sorted({k for t in timings for k in t if k.endswith("_s")})
    merged: dict[str, float] = {k: max(float(t.get(k, 0.0)) for t in timings) for k in phases}
    merged["workers"] = sum(int(t.get("workers", 1)) for t in timings)
    return merged


def rules_from_dict(rules: Mapping[str, Any]) -> Rules:
    thresholds = rules.get("thresholds") or {}
    return Rules(batch=rules.get("batch"), thresholds={b: float(thresholds[str(b)]) for b in (1, 2)},
                 aggregate=rules.get("aggregate", "mean"))  # fmt: skip


def decision_from_dict(d: Mapping[str, Any]) -> Decision:
    """A ``Decision`` back from its ``reports.decision_dict`` (numbers as the file holds them)."""
    configs = tuple(
        ConfigMetrics(
            shape=tuple(c["shape"]), dtype=c["dtype"], your_time=c.get("your_time"), cuda_time=c.get("cuda_time"),
            flaggems_time=c.get("flaggems_time"), speedup_vs_flaggems=c.get("speedup_vs_flaggems"),
            relative_to_cuda=c.get("relative_to_cuda"), extra={k: v for k, v in c.items() if k not in _METRIC_KEYS},
        )  # fmt: skip
        for c in d.get("configs") or []
    )
    # The session records where an unmatched configuration is, not its times (nothing reads them).
    unmatched = tuple(PerfConfig(tuple(u["shape"]), u["dtype"], math.nan, math.nan) for u in d.get("unmatched_configs") or [])
    return Decision(d["op"], d["batch"], bool(d["selected"]), d["reason"], configs, unmatched,
                    d.get("avg_speedup_vs_flaggems"), d.get("avg_relative_to_cuda"))  # fmt: skip
