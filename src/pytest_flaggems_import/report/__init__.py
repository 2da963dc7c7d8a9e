"""Reports for people: ``report.html`` (self-contained) and ``report.md`` with PNG charts, built
from session files only (``model.build``), so a run and ``flaggems-import report`` write the same.

Layers: ``model`` (session dicts → rows, pure), ``charts`` (matplotlib), ``cells`` (table text
shared by) ``html`` and ``markdown``. Imports core and errors; never pytest, torch or the runner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_flaggems_import.core import reports
from pytest_flaggems_import.core.formats import SESSION_FILE, selected_name
from pytest_flaggems_import.core.jsonio import write_atomic, write_json
from pytest_flaggems_import.core.selection import Decision, Rules
from pytest_flaggems_import.report import charts, html, markdown
from pytest_flaggems_import.report.model import Report, build

REPORT_HTML = "report.html"
REPORT_MD = "report.md"
CHARTS_DIR = "charts"


def draw(report: Report) -> dict[str, bytes]:
    """Every chart the report has data for, by name."""
    drawn: dict[str, bytes | None] = {"time": charts.time_chart(report)}
    for batch in (1, 2):
        drawn[f"speedup-batch{batch}"] = charts.speedup_chart(report.rows[batch], batch)
        drawn[f"configs-batch{batch}"] = charts.config_chart(report, batch)
    return {name: png for name, png in drawn.items() if png is not None}


def write_report(sessions: Sequence[Mapping[str, Any]], folder: Path, sources: Sequence[str] | None = None) -> Report:
    """Write report.html, report.md and charts/*.png into ``folder`` (each file atomically)."""
    names = list(sources) if sources is not None else ["session.json"] * len(sessions)
    report = build(list(zip(names, sessions, strict=True)))
    pngs = draw(report)
    for name, png in pngs.items():
        write_atomic(folder / CHARTS_DIR / f"{name}.png", png)
    write_atomic(folder / REPORT_MD, markdown.render(report, {n: f"{CHARTS_DIR}/{n}.png" for n in pngs}))
    write_atomic(folder / REPORT_HTML, html.render(report, pngs))
    return report


def write_folder(folder: Path, session: Mapping[str, Any], decisions: Sequence[Decision], rules: Rules) -> Report:
    """Everything a report folder holds, from one session (as ``session.json`` holds it) and its
    decisions: the selected files, ``session.json``, ``selection.md`` and the reports. The
    plugin writes its run's folder with it, ``flaggems-import merge`` the shards' merged one."""
    partial = bool(session.get("partial"))
    provenance = {**session.get("provenance", {}), "partial": partial}
    for batch in (1, 2):
        data = reports.selected_file(decisions, batch, rules, provenance)
        write_json(folder / selected_name(batch), {**data, "partial": partial})
    write_json(folder / SESSION_FILE, session)
    write_atomic(folder / reports.SELECTION_MD, reports.markdown_table(decisions))
    return write_report([session], folder)
