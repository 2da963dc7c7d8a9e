"""What a session writes for people and machines: the selected files, session.json, selection.md,
regenerated perf files, and the terminal's decision table (SPEC 4). Functions of the session's
state; they decide nothing (``FlaggemsSession.pytest_sessionfinish`` does)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flaggems_import.core import jsonio, reports, selection
from pytest_flaggems_import.core.settings import Settings
from pytest_flaggems_import.plugin import benchmarks
from pytest_flaggems_import.plugin.props import ItemKind

if TYPE_CHECKING:
    from pytest_flaggems_import.plugin.session import FlaggemsSession


def regenerate(session: FlaggemsSession) -> None:
    your, flaggems = benchmarks.measured_tables(session.records)
    provenance = session.run_info
    folder = session.settings.regen
    for name, table, key in (
        ("your_perf_data.json", your, "your_time"),
        ("flaggems_perf_data.json", flaggems, "flaggems_time"),
    ):
        data = {
            op: {
                "configs": [
                    {
                        "shape": list(c.shape),
                        "dtype": c.dtype,
                        key: c.time_ms,
                        "cuda_time": c.cuda_time_ms,
                        **c.extra,
                    }
                    for c in configs
                ],
                "provenance": provenance,
            }
            for op, configs in sorted(table.items())
        }
        jsonio.write_json(folder / name, data)  # unrounded: select on it reproduces this session

def write_reports(session: FlaggemsSession, rules: selection.Rules, folder: Path) -> None:
    from pytest_flaggems_import.report import write_folder

    written = jsonio.rounded({
        "partial": session.partial,
        "interrupted": session.interrupted,
        "provenance": {**session.run_info, "partial": session.partial},
        "rules": {"batch": rules.batch, "thresholds": {str(b): t for b, t in rules.thresholds.items()},
                  "aggregate": rules.aggregate},
        "checks": checks_applied(session.settings),
        "timing": timing(session),
        "operators": {op: operator_entry(session, op) for op in sorted(session.records)},
        "decisions": [reports.decision_dict(d) for d in session.decisions],
    })  # fmt: skip
    write_folder(folder, written, session.decisions, rules)


# A benchmark item's steps (plugin.benchmarks): checking the candidate at the configuration
# (sharing the GPU), waiting to have it alone, measuring alone on it; Triton compiling in all, and
# of that while alone on the GPU (every other worker's tests wait then).
_BENCH_STEPS = (("check", "checking"), ("wait", "waiting for the GPU"), ("alone", "alone on it"),
                ("compile", "compiling"), ("compile_alone", "compiling alone"))  # fmt: skip


def timing(session: FlaggemsSession) -> dict[str, float]:
    """session.json ``timing``: the wall seconds of the session's phases (``<phase>_s``: startup
    until the first report, tests and benchmarks, waiting for the gate), then seconds summed over
    workers and checks (``*_seconds``): items by kind, Triton compiling within them, the gate's
    checks by step (queued, the candidate's run, the referee's comparison)."""
    records = session.records.values()
    out: dict[str, float] = {f"{phase}_s": seconds for phase, seconds in session.phases.items()}
    out["workers"] = _workers(session.config)
    for kind in ItemKind:
        spent = sum(r.seconds.get(kind.value, 0.0) for r in records)
        if spent:
            out[f"worker_{kind.value}_seconds"] = spent
    for step, _ in _BENCH_STEPS:
        spent = sum(r.bench_split.get(step, 0.0) for r in records)
        if spent:
            out[f"worker_bench_{step}_seconds"] = spent
    waited = sum(r.test_wait_seconds for r in records)
    if waited:
        out["worker_test_wait_seconds"] = waited
    compiled = sum(r.kernels_compiled for r in records)
    if compiled:
        out["worker_compile_seconds"] = sum(r.compile_seconds for r in records)
        out["kernels_compiled"] = compiled
    return {**out, **session.gate_timing}


def time_line(timing: dict[str, float]) -> str:
    """The terminal's one line of where the time went (session.json ``timing`` has it all)."""
    phases = ", ".join(f"{key.removesuffix('_s')} {value:.1f} s" for key, value in timing.items() if key.endswith("_s"))
    work = [f"{label} {timing[f'worker_{kind}_seconds']:.1f} s" for kind, label in (("test", "tests"), ("bench", "benchmarks"))
            if f"worker_{kind}_seconds" in timing]  # fmt: skip
    split = [f"{label} {timing[f'worker_bench_{step}_seconds']:.1f} s" for step, label in _BENCH_STEPS
             if f"worker_bench_{step}_seconds" in timing]  # fmt: skip
    if timing.get("worker_test_wait_seconds", 0.0) >= 0.05 and work and work[0].startswith("tests"):
        work[0] += f" (waiting for the GPU {timing['worker_test_wait_seconds']:.1f} s)"
    if split and work:
        work[-1] += f" ({', '.join(split)})"
    if "kernels_compiled" in timing:
        work.append(f"Triton compiling {timing['worker_compile_seconds']:.1f} s ({timing['kernels_compiled']:g} kernels)")
    gate = []
    if "gate_run_seconds" in timing:
        inner = ", ".join([f"cases {timing.get('gate_run_cases_seconds', 0.0):.1f} s"] + [
            f"{label} {timing[key]:.1f} s" for key, label in (("gate_run_wait_seconds", "waiting for the GPU"),
                                                             ("gate_run_compile_seconds", "Triton compiling"))
            if timing.get(key)])  # fmt: skip
        gate = [f"run {timing['gate_run_seconds']:.1f} s ({inner})", f"compare {timing['gate_compare_seconds']:.1f} s"]
    line = f"time: {phases}"
    if work:
        line += f"; in {timing.get('workers', 1):g} worker(s): " + ", ".join(work)
    if gate:
        line += f"; gate checks ({timing.get('gate_checks', 0):g}): " + ", ".join(gate)
    return line


def bytecode_note(module: str = "torch") -> str | None:
    """A note when ``module`` still has no bytecode once the session's processes ran: then each
    of them (workers, gate checks) compiled it from source, seconds of CPU apiece (with
    ``PYTHONDONTWRITEBYTECODE`` set or a read-only install, as on the device image measured in
    docs/benchmarks.md). Asked of the file system only: the deciding process imports no torch."""
    import importlib.util
    import os

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    if os.path.exists(importlib.util.cache_from_source(spec.origin)):
        return None
    folder = Path(spec.origin).parent.parent
    return (f"note: {module} has no bytecode and Python did not write it (PYTHONDONTWRITEBYTECODE or a read-only "
            f"install): each process of this session compiled it from source; `python -m compileall -q {folder}` "
            "once (or PYTHONPYCACHEPREFIX=DIR) saves that")  # fmt: skip


def checks_applied(settings: Settings) -> dict[str, Any]:
    """Which of SPEC 8's checks decided this session, and how candidates were confined."""
    return {
        "isolation": settings.isolate,
        "sandbox": settings.sandbox,
        "max_memory": settings.max_memory,
        "timeout_s": settings.timeout,
        "gate": settings.gate,
        "bench_metric": settings.bench_metric if settings.bench else None,
        "relaxed": sorted(name for name in _RELAXATIONS if getattr(settings, name)),
    }


_RELAXATIONS = ("allow_untested", "allow_fallback", "allow_mutation", "allow_kernel_free", "allow_implausible",
                "allow_cpu_timings")  # fmt: skip


def _workers(config: Any) -> int:
    """How many processes ran candidates: xdist's workers (``-n`` becomes that many ``--tx``), or 1."""
    return len(getattr(config.option, "tx", None) or []) or 1


def operator_entry(session: FlaggemsSession, op: str) -> dict[str, Any]:
    """What session.json says about one operator: counts, completeness, and the evidence
    ``flaggems-import import`` relies on (``blocked``: null when its tests justify an import)."""
    record = session.records[op]
    ran, expected = session.outcomes.completeness(op)
    block = session.blocks.get(op)
    return {
        **asdict(record),
        "info_note": record.info_note(),
        "items": {"ran": ran, "collected": expected},
        "complete": session.outcomes.complete(op),
        "blocked": block.reason if block else None,
        "evidence": "passed" if block is None else ("failed" if block.failed else "none"),
    }

def partial_note(session: FlaggemsSession) -> str:
    missing = [op for op in session.records if not session.outcomes.complete(op)]
    why = "interrupted" if session.interrupted else "-k, -m, --lf, node ids or -x left items unrun"
    note = f"partial run ({why}): {len(missing)} of {len(session.records)} operators not fully evaluated, none of them selected"
    if session.settings.report_dir is not None and session.reports_at != session.settings.report_dir:
        note += f"; the complete results in {session.settings.report_dir} are untouched"
    return note

def decision_table(session: FlaggemsSession) -> list[str]:
    """One row per operator: batch, category, tests passed/run (and the claim), metric, decision."""
    by_op = {d.op: d for d in session.decisions}
    rows = []
    for op, r in sorted(session.records.items(), key=lambda kv: (session.batch_of(kv[0]), kv[0])):
        d = by_op.get(op)
        tests = " ".join(filter(None, [f"{r.passed}/{r.ran}", r.info_note()]))
        verdict = ("selected" if d.selected else f"rejected: {d.reason}") if d else "-"
        batch = str(d.batch if d else session.batch_of(op))
        rows.append((op, batch, r.category or "", tests, reports.metric_text(d) if d else "-", verdict))
    header = ("op", "batch", "category", "tests", "metric", "decision")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    return [
        " ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + " " + row[5]
        for row in [header, *rows]
    ]
