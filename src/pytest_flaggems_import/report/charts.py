"""The report's charts, as PNG bytes (matplotlib's Agg backend: no display, no network).

- ``speedup_chart``: each operator's deciding figure against its batch's threshold line;
- ``config_chart``: per configuration (shape and dtype), one dot per operator;
- ``time_chart``: where the run's wall time went, per operator and item kind.

Batch 2's figure is drawn as speed relative to CUDA (CUDA's time / the candidate's, higher is
better) so that both batches read the same way; the tables keep SPEC §3's time ratio.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from pytest_flaggems_import.report.model import ITEM_KINDS, Report, Row

SELECTED, REJECTED, LINE = "#2e7d32", "#b0bec5", "#c62828"
MAX_BARS = 40  # operators per chart; the tables list every one


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(figure)
    return buffer.getvalue()


def _shown(row: Row) -> float | None:
    """The figure drawn for ``row``: higher is better in both batches."""
    if row.metric is None or row.metric <= 0:
        return None
    return row.metric if row.batch == 1 else 1.0 / row.metric


def _line(batch: int, threshold: float) -> float:
    return threshold if batch == 1 else 1.0 / threshold


def speedup_chart(rows: Sequence[Row], batch: int) -> bytes | None:
    """Horizontal bars, best first, selected in green, the threshold as a red line."""
    drawn = sorted(((r, v) for r in rows if (v := _shown(r)) is not None), key=lambda rv: -rv[1])[:MAX_BARS]
    if not drawn:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 0.8 + 0.28 * len(drawn)))
    names = [r.op for r, _ in drawn][::-1]
    values = [v for _, v in drawn][::-1]
    colors = [SELECTED if r.selected else REJECTED for r, _ in drawn][::-1]
    axes.barh(names, values, color=colors)
    threshold = _line(batch, drawn[0][0].threshold)
    axes.axvline(threshold, color=LINE, linestyle="--", label=f"threshold {threshold:.3g}")
    axes.set_xlabel("speedup vs FlagGems (x)" if batch == 1 else "speed vs CUDA (CUDA time / candidate time)")
    axes.set_title(f"Batch {batch}: {sum(r.selected for r, _ in drawn)} of {len(drawn)} selected (green)")
    axes.legend(loc="lower right")
    return _png(figure)


def config_chart(report: Report, batch: int) -> bytes | None:
    """One column per configuration label, one dot per operator there (selected ones green)."""
    points: list[tuple[str, float, bool]] = []
    for row in report.rows[batch]:
        for c in report.details[row.op].configs:
            value = c.speedup_vs_flaggems if batch == 1 else c.speed_vs_cuda
            if value:
                points.append((c.label, value, row.selected))
    if not points:
        return None
    labels = sorted({p[0] for p in points}, key=_label_order)
    where = {label: i for i, label in enumerate(labels)}
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(max(6, 1.1 * len(labels)), 4))
    for selected in (False, True):
        mine = [p for p in points if p[2] is selected]
        axes.scatter([where[p[0]] for p in mine], [p[1] for p in mine], color=SELECTED if selected else REJECTED,
                     label="selected" if selected else "not selected", alpha=0.8, edgecolors="none")  # fmt: skip
    axes.axhline(_line(batch, report.rows[batch][0].threshold), color=LINE, linestyle="--", label="threshold")
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axes.set_yscale("log")
    axes.set_ylabel("speedup vs FlagGems (x)" if batch == 1 else "speed vs CUDA")
    axes.set_title(f"Batch {batch}: per configuration (one dot per operator)")
    axes.legend()
    return _png(figure)


def _label_order(label: str) -> tuple[int, str]:
    shape, _, dtype = label.partition(" ")
    numel = 1
    for size in shape.split("x"):
        numel *= int(size) if size.isdigit() else 1
    return numel, dtype


def time_chart(report: Report) -> bytes | None:
    """Stacked bars of each operator's item time by kind (the slowest first), titled with the
    session phases when they were recorded."""
    totals = {op: d.seconds for op, d in report.details.items() if d.seconds}
    if not totals:
        return None
    ops = sorted(totals, key=lambda op: -sum(totals[op].values()))[:MAX_BARS][::-1]
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 0.8 + 0.28 * len(ops)))
    left = [0.0] * len(ops)
    for kind, color in zip(ITEM_KINDS, ("#90a4ae", "#ffb74d", "#4fc3f7", "#7e57c2", "#a5d6a7"), strict=True):
        widths = [totals[op].get(kind, 0.0) for op in ops]
        if any(widths):
            axes.barh(ops, widths, left=left, color=color, label=kind)
            left = [a + b for a, b in zip(left, widths, strict=True)]
    axes.set_xlabel("seconds in the operator's items (setup + call + teardown, summed over workers)")
    axes.set_title(phases_title(report))
    axes.legend(loc="lower right")
    return _png(figure)


def phases_title(report: Report) -> str:
    parts = []
    for session in report.sessions:
        timing = session["timing"]
        phases = [f"{k.removesuffix('_s')} {v:.1f} s" for k, v in timing.items() if k.endswith("_s")]
        if phases:
            parts.append(", ".join(phases) + f" ({timing.get('workers', 1)} worker(s))")
    return "Where the wall time went" + (": " + "; ".join(parts) if parts else "")
