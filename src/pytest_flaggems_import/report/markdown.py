"""``report.md``: the report for a pull request or a terminal pager; charts are the PNG files
written beside it (``charts/``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pytest_flaggems_import.report import cells
from pytest_flaggems_import.report.model import Report


def _cell(text: str) -> str:
    # A reason can hold anything a candidate raised: keep it on one line, inside its cell, as text.
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def render(report: Report, charts: Mapping[str, str]) -> str:
    """``charts``: chart name → its path relative to report.md."""
    out = ["# FlagGems import screening report", ""]
    if report.partial:
        out += ["**Partial run**: some operators did not run completely; none of them is selected.", ""]
    for batch in (1, 2):
        rows = report.rows[batch]
        if not rows:
            continue
        out += [f"## Batch {batch}: {len(report.selected(batch))} of {len(rows)} selected", ""]
        out += _table(cells.DECISION_HEADER, map(cells.decision_cells, rows)) + [""]
        for name in (f"speedup-batch{batch}", f"configs-batch{batch}"):
            if name in charts:
                out += [f"![{name}]({charts[name]})", ""]
    out += ["## Where the time went", ""]
    out += [f"![time]({charts['time']})", ""] if "time" in charts else ["No timing recorded in these session files.", ""]
    out += ["## Environment and checks", ""] + _table(("field", "value"), cells.environment_rows(report)) + [""]
    out += ["## Operators", ""]
    for batch in (1, 2):
        for row in report.rows[batch]:
            detail = report.details[row.op]
            out += [f"### `{row.op}` (batch {batch}, {'selected' if row.selected else 'rejected'})", ""]
            out += [f"- {name}: {_cell(value)}" for name, value in cells.detail_facts(detail)] + [""]
            if detail.configs:
                out += _table(cells.CONFIG_HEADER, map(cells.config_cells, detail.configs)) + [""]
    return "\n".join(out)
