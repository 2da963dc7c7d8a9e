"""Decisions → the ``selected_batchN.json`` dict (SPEC §4), terminal lines and Markdown.

Decisions hold unrounded numbers; the dicts built here hold them as files show them, rounded to
3 decimals (SPEC §3). Configuration rows are built a whole file at a time (``config_dicts``) so
that their half a million numbers are rounded in bulk, not one ``round()`` call each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from operator import attrgetter
from typing import Any

from pytest_flaggems_import.core.jsonio import round_float, round_floats, rounded
from pytest_flaggems_import.core.selection import CRITERION, ConfigMetrics, Decision, Rules

SELECTION_MD = "selection.md"
IMPORT_DIFF = "import.diff"
PARTIAL_DIR = "partial"  # where a partial run writes when the report folder holds a complete one


def justification(batch: int, aggregate: str, metric: float | None, threshold: float) -> str:
    """Why an operator was selected, one line, as both front ends write it into the checkout.

    Built from the numbers as files show them (rounded), so that importing a session's selection
    from the plugin and again from ``flaggems-import import`` writes identical headers (SPEC §5:
    the second run changes nothing)."""
    verdict = ">=" if batch == 1 else "<="
    shown = "n/a" if metric is None else f"{round_float(metric):g}"
    return f"{aggregate} {CRITERION[batch]} {shown} {verdict} threshold {threshold:g}"


_ROUNDED = ("your_time", "cuda_time", "flaggems_time", "speedup_vs_flaggems", "relative_to_cuda")


def config_dicts(metrics: Sequence[ConfigMetrics]) -> list[dict[str, Any]]:
    """One row per configuration, in the seed's key order, numbers rounded as files show them."""
    columns = [round_floats(list(map(attrgetter(name), metrics))) for name in _ROUNDED]
    rows = []
    for m, your, cuda, flaggems, speedup, relative in zip(metrics, *columns, strict=True):
        row = {
            "shape": list(m.shape),
            "dtype": m.dtype,
            "your_time": your,
            "cuda_time": cuda,
            "flaggems_time": flaggems,
            "speedup_vs_flaggems": speedup,
            "relative_to_cuda": relative,
        }
        if m.extra:
            # A perf file's own keys ride along, but never over a number computed here: a
            # your_perf file that also lists flaggems_time or relative_to_cuda must not
            # contradict the FlagGems data or the decision (SPEC §3: every report agrees).
            for key, value in rounded(m.extra).items():
                row.setdefault(key, value)
        rows.append(row)
    return rows


def _rows_by_decision(decisions: Sequence[Decision]) -> list[list[dict[str, Any]]]:
    """``config_dicts`` of each decision's configurations, rounded in one batch for all."""
    rows = iter(config_dicts([m for d in decisions for m in d.configs]))
    return [list(islice(rows, len(d.configs))) for d in decisions]


def performance(d: Decision, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One operator's entry under ``operators`` (SPEC §4), also what ``_metadata.json`` records.
    ``rows``: its ``config_dicts``, when they were built in a batch with other operators'."""
    return {
        "avg_speedup_vs_flaggems": round_float(d.avg_speedup_vs_flaggems),
        "avg_relative_to_cuda": round_float(d.avg_relative_to_cuda),
        "configs": config_dicts(d.configs) if rows is None else rows,
    }


def selected_file(
    decisions: Iterable[Decision], batch: int, rules: Rules, provenance: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The seed's ``selected_batchN.json`` shape, with the extra keys SPEC §4 encourages."""
    mine = [d for d in decisions if d.batch == batch]
    chosen = sorted((d for d in mine if d.selected), key=lambda d: (-d.score, d.op))
    operators = {d.op: performance(d, rows) for d, rows in zip(chosen, _rows_by_decision(chosen), strict=True)}
    return {
        "batch": batch,
        "threshold": rules.thresholds[batch],
        "criterion": CRITERION[batch],
        "total_operators": len(operators),
        "total_configs": sum(len(d.configs) for d in chosen),
        "operators": operators,
        "aggregate": rules.aggregate,
        "rejected": {d.op: d.reason for d in sorted(mine, key=lambda d: d.op) if not d.selected},
        "unmatched_configs": {
            d.op: [{"shape": list(c.shape), "dtype": c.dtype} for c in d.unmatched] for d in mine if d.unmatched
        },
        "provenance": rounded(dict(provenance or {})),
    }


def metric_text(d: Decision) -> str:
    if d.batch == 1 and d.avg_speedup_vs_flaggems is not None:
        return f"{d.avg_speedup_vs_flaggems:.3f}x vs FlagGems"
    if d.avg_relative_to_cuda is not None:
        return f"{d.avg_relative_to_cuda:.3f} of CUDA time"
    return "-"


def summary_lines(decisions: Iterable[Decision], rules: Rules, *, limit: int = 20) -> list[str]:
    """Human summary: per batch, selected/total, then each operator with its metric or reason."""
    decisions = list(decisions)
    lines = []
    for batch in (1, 2):
        mine = [d for d in decisions if d.batch == batch]
        if not mine:
            continue
        chosen = [d for d in mine if d.selected]
        op = ">=" if batch == 1 else "<="
        lines.append(
            f"batch {batch}: {len(chosen)} of {len(mine)} selected "
            f"({CRITERION[batch]} {op} {rules.thresholds[batch]:g}, {rules.aggregate} over configs)"
        )
        shown = mine if limit <= 0 else mine[:limit]
        for d in shown:
            mark = "+" if d.selected else "-"
            detail = f"{len(d.configs)} configs" if d.selected else d.reason
            lines.append(f"  {mark} {d.op:<24} {metric_text(d):<24} {detail}")
        if len(shown) < len(mine):
            lines.append(f"  ... {len(mine) - len(shown)} more (see the selected files' 'rejected' key)")
    return lines


def markdown_table(decisions: Iterable[Decision]) -> str:
    rows = [
        "| op | batch | decision | speedup vs FlagGems | time / CUDA | configs | reason |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for d in decisions:
        speed = f"{d.avg_speedup_vs_flaggems:.3f}x" if d.avg_speedup_vs_flaggems is not None else "-"
        rel = f"{d.avg_relative_to_cuda:.3f}" if d.avg_relative_to_cuda is not None else "-"
        verdict = "selected" if d.selected else "rejected"
        rows.append(f"| `{d.op}` | {d.batch} | {verdict} | {speed} | {rel} | {len(d.configs)} | {d.reason} |")
    return "\n".join(rows) + "\n"


def decision_dict(d: Decision) -> dict[str, Any]:
    """One decision as plain JSON, for ``session.json`` and ``select --json``."""
    return {
        "op": d.op,
        "batch": d.batch,
        "selected": d.selected,
        "reason": d.reason,
        "avg_speedup_vs_flaggems": round_float(d.avg_speedup_vs_flaggems),
        "avg_relative_to_cuda": round_float(d.avg_relative_to_cuda),
        "configs": config_dicts(d.configs),
        "unmatched_configs": [{"shape": list(c.shape), "dtype": c.dtype} for c in d.unmatched],
    }
