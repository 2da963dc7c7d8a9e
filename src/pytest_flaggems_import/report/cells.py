"""The report's tables as rows of text cells, shared by the HTML and Markdown renderers so the two
always show the same figures (rounded as the session file holds them)."""

from __future__ import annotations

from typing import Any

from pytest_flaggems_import.report.model import ConfigRow, Detail, Report, Row

DECISION_HEADER = ("operator", "category", "tests passed", "configs", "metric", "threshold", "decision", "reason")
CONFIG_HEADER = ("shape", "dtype", "candidate ms", "p20-p80 ms", "CUDA ms", "FlagGems ms", "speedup vs FlagGems",
                 "time / CUDA", "timed by", "device")  # fmt: skip


def number(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value:.3f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def decision_cells(row: Row) -> tuple[str, ...]:
    unit = "x" if row.batch == 1 else ""
    return (row.op, row.category or "-", f"{row.passed}/{row.ran}", str(row.configs), number(row.metric, unit),
            row.criterion, "selected" if row.selected else "rejected", "" if row.selected else row.reason)  # fmt: skip


def config_cells(c: ConfigRow) -> tuple[str, ...]:
    spread = f"{c.spread[0]:.3f}-{c.spread[1]:.3f}" if c.spread else "-"
    return ("x".join(map(str, c.shape)) or "scalar", c.dtype, number(c.your_time), spread, number(c.cuda_time),
            number(c.flaggems_time), number(c.speedup_vs_flaggems, "x"), number(c.relative_to_cuda), c.metric,
            c.device)  # fmt: skip


def detail_facts(detail: Detail) -> list[tuple[str, str]]:
    facts = [("session file", detail.source), ("the tool's own gate", detail.gate)]
    if detail.blocked:
        facts.append(("blocked", detail.blocked))
    if detail.first_failure:
        facts.append(("first failure", detail.first_failure))
    if detail.unmatched:
        facts.append(("configs without a counterpart", ", ".join(detail.unmatched)))
    if detail.seconds:
        facts.append(("wall time in its items", ", ".join(f"{k} {v:.2f} s" for k, v in sorted(detail.seconds.items()))))
    return facts


def environment_rows(report: Report) -> list[tuple[str, str]]:
    """One (field, value) per line; several sessions are listed one after another."""
    rows: list[tuple[str, str]] = []
    for session in report.sessions:
        prefix = f"{session['source']}: " if len(report.sessions) > 1 else ""
        for group in ("environment", "checks", "rules"):
            for key, value in session[group].items():
                shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
                rows.append((f"{prefix}{key}", shown or "none"))
        if session["partial"]:
            rows.append((f"{prefix}partial", "yes: some operators did not run completely (none of them selected)"))
    if not report.rules_recorded:
        rows.append(("rules", "a session file did not record its thresholds: SPEC defaults shown"))
    return rows
