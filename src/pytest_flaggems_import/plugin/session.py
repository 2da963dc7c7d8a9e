"""``FlaggemsSession``: the plugin's state and the hooks that need it (STYLE §2).

It indexes the operator files (JSON only, no torch), wraps each operator item in its isolation
contexts, gathers outcomes from reports (the same with and without xdist), and at session end
hands them to ``core.selection``, ``core.reports`` and, when asked, the importer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import faulthandler
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from pytest_flaggems_import import __version__
from pytest_flaggems_import.core import formats, jsonio, reports, selection
from pytest_flaggems_import.core.settings import Settings
from pytest_flaggems_import.errors import InputError, InputErrors
from pytest_flaggems_import.plugin import benchmarks
from pytest_flaggems_import.plugin.items import ERROR, LOADED, PROPERTY, Loaded, OperatorFile
from pytest_flaggems_import.plugin.records import (
    OpRecord,
    index_operators,
    rekey,
    unique_records,
)


class FlaggemsSession:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.index = index_operators(settings.ops)
        self.records = unique_records(self.index.values())
        self.your, self.flaggems = self._perf_tables()
        self._device: str | None = None
        self.decisions: list[selection.Decision] = []
        self.deciding_your: formats.PerfTable | None = None  # the numbers that decided, set at the end
        self.run_info: dict[str, Any] = {}  # provenance, computed once at the end
        self.import_summary: list[str] = []

    # -- inputs ---------------------------------------------------------------------------
    def _perf_path(self, given: Path | None, name: str) -> Path | None:
        if given is not None:
            return given
        for folder in self.settings.ops:
            for candidate in (folder / name, folder.parent / name):
                if candidate.is_file():
                    return candidate
        return None

    def _perf_tables(self) -> tuple[formats.PerfTable | None, formats.PerfTable | None]:
        self.your_path = self._perf_path(self.settings.your_data, "your_perf_data.json")
        self.flaggems_path = self._perf_path(self.settings.flaggems_data, "flaggems_perf_data.json")
        ops = list(self.records)
        try:
            your = formats.load_perf(self.your_path, "your_perf") if self.your_path else None
            fg = formats.load_perf(self.flaggems_path, "flaggems_perf") if self.flaggems_path else None
        except (InputError, InputErrors) as exc:
            raise pytest.UsageError(str(exc)) from None
        return rekey(your, ops), rekey(fg, ops)

    def owns(self, path: Path) -> bool:
        return path.resolve() in self.index

    @property
    def device(self) -> str:
        if self._device is None:
            from pytest_flaggems_import.runner import device

            self._device = device.resolve_device(self.settings.device)
            device.prepare_process(self._device)
        return self._device

    def batch_of(self, op: str) -> int:
        record = self.records.get(op)
        folder = record.folder_batch if record else None
        return selection.assign_batch(op, self.settings.batch, self.flaggems, folder)  # type: ignore[arg-type]

    def marks_for(self, spec: formats.OperatorSpec, category: str) -> list[pytest.MarkDecorator]:
        return [getattr(pytest.mark, f"flaggems_batch{self.batch_of(spec.op)}"), getattr(pytest.mark, category)]

    # -- running candidates ---------------------------------------------------------------
    def load_candidate(self, spec: formats.OperatorSpec, category: str) -> tuple[Any, dict]:
        from pytest_flaggems_import.runner import device, guard, isolate

        where = self.device  # first: sets TRITON_INTERPRET before anything imports triton
        isolate.flag_gems_runtime()  # the first imports (triton, flag_gems) are not the operator's time
        with device.device_context(where), guard.time_limit(self.settings.timeout):
            before = guard.snapshot()
            module = isolate.load_code(spec, category)
            tampered = guard.restore_tampering(before)
        if tampered:
            raise RuntimeError(f"the code replaces {', '.join(tampered)} (restored)")
        isolate.entry_function(module, spec)
        return module, isolate.aliases(module, spec, category)

    @contextlib.contextmanager
    def operator_context(self, loaded: Loaded) -> Iterator[None]:
        from pytest_flaggems_import.runner import device, isolate

        with isolate.candidate_modules(loaded.modules), device.device_context(self.device):
            yield

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        operator = item.getparent(OperatorFile)
        loaded = operator.stash.get(LOADED, None) if operator else None
        if loaded is None or loaded.module is None:
            return (yield)
        hard_limit = hasattr(self.config, "workerinput")  # xdist replaces a worker that exits
        if hard_limit:
            faulthandler.dump_traceback_later(self.settings.timeout + 60, exit=True)
        try:
            with self.operator_context(loaded):
                return (yield)
        finally:
            if hard_limit:
                faulthandler.cancel_dump_traceback_later()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        operator = item.getparent(OperatorFile)
        if operator is None or operator.stash[LOADED].module is None:
            return (yield)
        from pytest_flaggems_import.runner import guard

        before = guard.snapshot()
        with guard.time_limit(self.settings.timeout), guard.count_launches() as counter:
            try:
                result = yield
            finally:
                item.user_properties.append(("flaggems_launches", counter.launches))
                tampered = guard.restore_tampering(before)
        if tampered:
            raise guard.Tampering(f"the operator replaced {', '.join(tampered)} during the test (restored)")
        return result

    def bench_items(self, parent: OperatorFile, loaded: Loaded) -> Iterator[pytest.Item]:
        return benchmarks.bench_items(self, parent, loaded)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """With ``--flaggems-bench``, send each operator file whole to one worker.

        A bench item skips an operator whose tests failed, which it only knows when those tests
        ran in its own worker. xdist's default (``load``) and ``worksteal`` spread one file's
        items over workers; ``loadfile`` keeps them together, in order. A mode the user chose
        for grouping (``loadscope``, ``loadfile``, ``loadgroup``, ``each``) is left alone.
        """
        if not self.settings.bench or config.getoption("dist") not in ("load", "worksteal"):
            return None
        from xdist.scheduler import LoadFileScheduling

        return LoadFileScheduling(config, log)

    # -- gathering outcomes ---------------------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(p for p in report.user_properties if isinstance(p, tuple) and len(p) == 2)
        mine = props.get(PROPERTY)
        if not isinstance(mine, dict):
            # xdist's report for an item whose worker crashed (segfault, hard timeout) carries no
            # properties: find the operator from the node id, and count it as failed.
            mine = self._crashed_item(report)
        if mine is None or mine.get("op") not in self.records:
            return
        record = self.records[mine["op"]]
        kind = mine.get("kind")
        if kind in ("load", "tests"):
            if report.failed and report.when == "call":
                record.load_error = props.get(ERROR, "failed")
        elif kind == "bench":
            if report.when == "call":
                record.bench += props.get("flaggems_bench", [])
                if report.failed:
                    record.bench_error = props.get(ERROR, f"benchmark failed: {report.nodeid}")
        elif report.when == "call" or not report.passed:
            self._count_test(record, report, int(props.get("flaggems_launches", 0)))

    def _crashed_item(self, report: pytest.TestReport) -> dict | None:
        if not report.failed:
            return None
        path = (self.config.rootpath / report.nodeid.split("::")[0]).resolve()
        record = self.index.get(path)
        return {"op": record.op, "kind": "test"} if record else None

    @staticmethod
    def _count_test(record: OpRecord, report: pytest.TestReport, launches: int) -> None:
        record.launches += launches
        if report.when == "call" and report.passed:
            record.passed += 1
        elif report.skipped:
            record.skipped += 1
        else:
            record.failed += 1
            record.failures.append(report.nodeid)

    def blocked(self) -> dict[str, str]:
        """Why an operator cannot be selected whatever its speed (SPEC §1), from this run."""
        reasons = {}
        for op, r in self.records.items():
            if r.load_error:
                reasons[op] = r.load_error
            elif r.failed:
                reasons[op] = f"tests failed: {r.failed} of {r.ran}"
            elif not r.has_tests and not self.settings.allow_untested:
                reasons[op] = "no tests"
            elif r.has_tests and r.passed == 0:
                reasons[op] = "tests not run in this session"
            elif r.passed and r.launches == 0:
                reasons[op] = "no Triton kernel ran in its tests"
            elif r.bench_error:
                reasons[op] = r.bench_error
        return reasons

    # -- session end ----------------------------------------------------------------------
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput"):
            return  # the controller decides, once, from every worker's reports
        rules = self.settings.rules
        folders = {op: r.folder_batch for op, r in self.records.items() if r.folder_batch is not None}
        your, flaggems = self.deciding_tables()
        self.deciding_your = your
        self.run_info = self.provenance()
        self.decisions = selection.select(
            your or {}, flaggems, rules, blocked=self.blocked(), folders=folders, operators=self.records
        )
        if self.settings.regen is not None:
            self._regenerate()
        if self.settings.report_dir is not None:
            self._write_reports(rules)
        if self.settings.import_root is not None:
            failed = self._import()
            if failed and session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def live(self) -> bool:
        """Whether this session's own measurements decide (SPEC §7: CPU timings only if allowed)."""
        measured = any(r.bench for r in self.records.values())
        return measured and (self.device == "cuda" or self.settings.allow_cpu_timings)

    def deciding_tables(self) -> tuple[formats.PerfTable | None, formats.PerfTable | None]:
        if self.live():
            your, flaggems = benchmarks.measured_tables(self.records)
            return your, flaggems or None
        return self.your, self.flaggems

    def _regenerate(self) -> None:
        your, flaggems = benchmarks.measured_tables(self.records)
        provenance = self.run_info
        folder = self.settings.regen
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

    def provenance(self) -> dict[str, Any]:
        from pytest_flaggems_import.runner import device, isolate

        return {
            "tool": f"pytest-flaggems-import {__version__}",
            **device.describe(self.device),
            "flag_gems": isolate.flag_gems_runtime().label,
            "your_data": str(self.your_path) if self.your_path else None,
            "flaggems_data": str(self.flaggems_path) if self.flaggems_path else None,
            "measured_by": (
                f"live: {self.settings.bench_metric} timing, median of rounds"
                if self.live()
                else "perf files (not re-measured)"
            ),
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }

    def _write_reports(self, rules: selection.Rules) -> None:
        folder = self.settings.report_dir
        provenance = self.run_info
        for batch in (1, 2):
            data = reports.selected_file(self.decisions, batch, rules, provenance)
            jsonio.write_json(folder / f"selected_batch{batch}.json", data)
        session = {
            "provenance": provenance,
            "operators": {op: {**asdict(r), "info_note": r.info_note()} for op, r in sorted(self.records.items())},
            "decisions": [reports.decision_dict(d) for d in self.decisions],
        }
        jsonio.write_json(folder / "session.json", jsonio.rounded(session))
        jsonio.write_atomic(folder / "selection.md", reports.markdown_table(self.decisions))

    def _import(self) -> bool:
        from pytest_flaggems_import.importer import import_decisions

        outcome = import_decisions(
            decisions=[d for d in self.decisions if d.selected],
            spec_paths={r.op: Path(r.path) for r in self.records.values()},
            validation={op: {"total": r.ran, "passed": r.passed} for op, r in self.records.items()},
            root=self.settings.import_root,
            layout=self.settings.layout,
            dry_run=self.settings.dry_run,
            force=self.settings.force,
        )
        self.import_summary = outcome.lines
        return outcome.failed

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput"):
            return
        from pytest_flaggems_import.runner import isolate

        tr = terminalreporter
        tr.section("flaggems selection")
        source = self.run_info["measured_by"] if self.live() else f"perf files: {self.your_path or 'none'}"
        tr.write_line(f"device: {self.device}; flag_gems: {isolate.flag_gems_runtime().label}; numbers: {source}")
        for line in self._table():
            tr.write_line(line)
        if self.deciding_your is not None:
            for warning in formats.cross_warnings(self.records, self.deciding_your, None):
                tr.write_line(f"warning: {warning}")
        for batch in (1, 2):
            mine = [d for d in self.decisions if d.batch == batch]
            if mine:
                tr.write_line(f"batch {batch}: {sum(d.selected for d in mine)} of {len(mine)} selected")
        if self.settings.report_dir is not None:
            tr.write_line(f"reports written to {self.settings.report_dir}")
        for line in self.import_summary:
            tr.write_line(line)

    def _table(self) -> list[str]:
        """One row per operator: batch, category, tests passed/run (and the claim), metric, decision."""
        by_op = {d.op: d for d in self.decisions}
        rows = []
        for op, r in sorted(self.records.items(), key=lambda kv: (self.batch_of(kv[0]), kv[0])):
            d = by_op.get(op)
            tests = " ".join(filter(None, [f"{r.passed}/{r.ran}", r.info_note()]))
            verdict = ("selected" if d.selected else f"rejected: {d.reason}") if d else "-"
            batch = str(d.batch if d else self.batch_of(op))
            rows.append((op, batch, r.category or "", tests, reports.metric_text(d) if d else "-", verdict))
        header = ("op", "batch", "category", "tests", "metric", "decision")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
        return [
            " ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + " " + row[5]
            for row in [header, *rows]
        ]
