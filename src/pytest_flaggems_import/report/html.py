"""``report.html``: one self-contained page (inline CSS, charts as ``data:`` PNGs, no script, no
request to anything): it opens from disk, offline, and can be attached to an issue as it is."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from html import escape

from pytest_flaggems_import.report import cells
from pytest_flaggems_import.report.model import Report

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr.selected td:first-child { border-left: 4px solid #2e7d32; }
tr.rejected td:first-child { border-left: 4px solid #b0bec5; }
td.reason { max-width: 36em; font-size: 12px; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
details { margin: 0.3em 0; } summary { cursor: pointer; }
.partial { background: #fff3cd; padding: 0.5em 1em; }
"""


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, css: Sequence[str] = (), id_: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        klass = f' class="{css[i]}"' if i < len(css) else ""
        tds = "".join(f'<td{" class=reason" if h == "reason" else ""}>{escape(c)}</td>' for h, c in zip(header, row, strict=True))
        body.append(f"<tr{klass}>{tds}</tr>")
    ident = f' id="{id_}"' if id_ else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _image(name: str, png: bytes) -> str:
    return f'<img alt="{escape(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def render(report: Report, charts: Mapping[str, bytes]) -> str:
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>FlagGems import screening report</title>", f"<style>{STYLE}</style></head><body>",
           "<h1>FlagGems import screening report</h1>"]  # fmt: skip
    if report.partial:
        out.append('<p class="partial">Partial run: some operators did not run completely; none of them is selected.</p>')
    for batch in (1, 2):
        rows = report.rows[batch]
        if not rows:
            continue
        out.append(f"<h2>Batch {batch}: {len(report.selected(batch))} of {len(rows)} selected</h2>")
        out.append(_table(cells.DECISION_HEADER, map(cells.decision_cells, rows),
                          css=["selected" if r.selected else "rejected" for r in rows], id_=f"batch{batch}"))  # fmt: skip
        out += [_image(name, charts[name]) for name in (f"speedup-batch{batch}", f"configs-batch{batch}") if name in charts]
    out.append("<h2>Where the time went</h2>")
    out.append(_image("time", charts["time"]) if "time" in charts else "<p>No timing recorded in these session files.</p>")
    out.append("<h2>Environment and checks</h2>")
    out.append(_table(("field", "value"), cells.environment_rows(report), id_="environment"))
    out.append("<h2>Operators</h2>")
    for batch in (1, 2):
        for row in report.rows[batch]:
            detail = report.details[row.op]
            verdict = "selected" if row.selected else "rejected"
            out.append(f'<details id="op-{escape(row.op)}"><summary><code>{escape(row.op)}</code> '
                       f"(batch {batch}, {verdict})</summary><ul>")  # fmt: skip
            out += [f"<li>{escape(name)}: {escape(value)}</li>" for name, value in cells.detail_facts(detail)]
            out.append("</ul>")
            if detail.configs:
                out.append(_table(cells.CONFIG_HEADER, map(cells.config_cells, detail.configs)))
            out.append("</details>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
