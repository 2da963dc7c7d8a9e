"""``FlaggemsSession``: the plugin's state and the hooks that need it (STYLE §2).

It indexes the operator files (JSON only, no torch), wraps each operator item in its isolation
contexts, gathers outcomes from reports (the same with and without xdist), and at session end
hands them to ``core.selection``, ``core.reports`` and, when asked, the importer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import faulthandler
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_flaggems_import import __version__
from pytest_flaggems_import.core import formats, jsonio, reports, selection
from pytest_flaggems_import.core.settings import Settings
from pytest_flaggems_import.errors import InputError, InputErrors
from pytest_flaggems_import.plugin import benchmarks, props, reporting
from pytest_flaggems_import.plugin.failures import candidate_summary, first_line
from pytest_flaggems_import.plugin.isolation import Role, operator_scheduling, role
from pytest_flaggems_import.plugin.items import LOADED, IsolationItem, Loaded, OperatorFile, item_kind
from pytest_flaggems_import.plugin.outcomes import Block, Outcomes
from pytest_flaggems_import.plugin.records import index_operators, rekey, unique_records
from pytest_flaggems_import.runner import guard


class FlaggemsSession:
    def __init__(self, config: pytest.Config, settings: Settings, device: str) -> None:
        self.config = config
        self.settings = settings
        self.device = device  # resolved once, in pytest_configure
        self.index = index_operators(settings.ops)
        self.records = unique_records(self.index.values())
        self.your, self.flaggems = self._perf_tables()
        self.outcomes = Outcomes(self.records, self.index, config.rootpath)
        self.blocks: dict[str, Block] = {}
        self.partial = False  # set at the end: some operator did not run completely
        self.interrupted = False
        self.reports_at: Path | None = None  # where this run's files went
        self.diff_at: Path | None = None
        self.import_diff = ""
        self.retiring: set[str] = set()  # workers (gateway ids) that retire after an unclean operator
        self._retire = False
        self._before_load: Any = None
        self.journal: Any = None  # runner.journal.Journal in workers; its folder made by the controller
        self._journal_dir: str | None = None
        self._sigterm: Any = None
        self._fault_log: Any = None
        self.worker_env: dict[str, Any] | None = None
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

    # -- process roles and isolation --------------------------------------------------------
    @property
    def role(self) -> Role:
        return role(self.config)

    @property
    def isolated(self) -> bool:
        return self.settings.isolate == "process"

    def pytest_configure(self, config: pytest.Config) -> None:
        if self.role is Role.WORKER:
            from pytest_flaggems_import.runner.journal import Journal

            folder = config.workerinput.get("flaggems_journal")
            self.journal = Journal(folder) if folder else None
            if self.journal is not None:
                self._fault_log = self.journal.fault_log(config.workerinput["workerid"]).open("w")
            # A real Ctrl-C reaches the controller, which stops the session; in a worker, SIGINT
            # can only come from candidate code (os.kill(os.getpid(), SIGINT)): ignore it.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        elif self.isolated:
            self._journal_dir = tempfile.mkdtemp(prefix="flaggems-journal-")
        if self.role is not Role.WORKER and guard.on_main_thread():
            # SIGTERM ends the session as Ctrl-C does: partial session.json, nothing incomplete selected.
            self._sigterm = signal.signal(signal.SIGTERM, _interrupt)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self._fault_log is not None:
            # After pytest's faulthandler plugin has pointed it at stderr: fatal errors (a
            # segfault, the hard time limit) go where the controller reads them, to say what
            # ended this worker (plugin.isolation.crash_reason).
            faulthandler.enable(file=self._fault_log, all_threads=False)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._sigterm is not None:
            signal.signal(signal.SIGTERM, self._sigterm)
        if self._journal_dir:
            import shutil

            shutil.rmtree(self._journal_dir, ignore_errors=True)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self._journal_dir:
            node.workerinput["flaggems_journal"] = self._journal_dir

    @contextlib.contextmanager
    def loading(self, path: Path) -> Iterator[str | None]:
        """Around loading one operator at collection: the journal's verdict, if a worker died
        loading it before (then it is not loaded again), and a snapshot of the process."""
        from pytest_flaggems_import.runner import hygiene, isolate

        verdict = self.journal.verdict(path) if self.journal else None
        isolate.flag_gems_runtime()  # first: their threads and imports are not the operator's
        guard.warm_lazy_imports()
        self._before_load = hygiene.snapshot()
        if verdict is not None or self.journal is None:
            yield verdict
            return
        self.journal.begin(path)
        yield None
        self.journal.end(path)

    def after_loading(self, path: Path, loaded: Loaded) -> None:
        """Code that leaves a thread running or a signal handler replaced at import is failed
        at once; in a worker the worker then ends, so that nothing it started runs on."""
        from pytest_flaggems_import.runner import hygiene

        loaded.before = self._before_load
        if not self.isolated or loaded.error is not None:
            return
        found = hygiene.leftovers(self._before_load, self.device)
        if not found:
            return
        reason = "; ".join(found).replace("after its tests", "at import")
        loaded.error = f"code does not load: {reason}"
        if self.journal is not None:
            self.journal.record(path, reason)
            _end_worker()

    def leftovers(self, loaded: Loaded) -> list[str]:
        from pytest_flaggems_import.runner import hygiene

        return hygiene.leftovers(loaded.before, self.device) if loaded.before is not None else []

    def retire_after(self, item: pytest.Item) -> None:
        """Mark this worker for retirement once ``item``'s reports are sent (workers only)."""
        if self.role is Role.WORKER:
            self._retire = True
            props.put(item, props.RETIRE, True)

    @contextlib.contextmanager
    def candidate_time(self) -> Iterator[None]:

        with guard.time_limit(self.settings.timeout):
            yield

    def batch_of(self, op: str) -> int:
        record = self.records.get(op)
        folder = record.folder_batch if record else None
        return selection.assign_batch(op, self.settings.batch, self.flaggems, folder)  # type: ignore[arg-type]

    def marks_for(self, spec: formats.OperatorSpec, category: str) -> list[pytest.MarkDecorator]:
        return [getattr(pytest.mark, f"flaggems_batch{self.batch_of(spec.op)}"), getattr(pytest.mark, category)]

    # -- running candidates ---------------------------------------------------------------
    def load_candidate(self, spec: formats.OperatorSpec, category: str) -> tuple[Any, dict]:
        from pytest_flaggems_import.runner import device, isolate

        where = self.device  # flag_gems and torch's lazy imports were warmed by loading()
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
        if self._retire:
            # The previous operator left this worker unclean. Its items are reported complete
            # (xdist sends that after each protocol); end before this one runs, and the controller
            # re-queues it on a fresh worker (OperatorScheduling).
            _end_worker()
        operator = item.getparent(OperatorFile)
        loaded = operator.stash.get(LOADED, None) if operator else None
        if loaded is None or loaded.module is None:
            return (yield)
        hard_limit = self.role is Role.WORKER  # xdist replaces a worker that exits
        if hard_limit:
            out = self._fault_log or sys.stderr
            faulthandler.dump_traceback_later(self.settings.timeout + 60, exit=True, file=out)
        try:
            with self.operator_context(loaded):
                return (yield)
        finally:
            if hard_limit:
                faulthandler.cancel_dump_traceback_later()


    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        operator = item.getparent(OperatorFile)
        if operator is None or operator.stash[LOADED].module is None or isinstance(item, IsolationItem):
            return (yield)  # the isolation check must see the process as the operator left it

        before = guard.snapshot()
        with guard.time_limit(self.settings.timeout), guard.count_launches() as counter:
            try:
                result = yield
            except (KeyboardInterrupt, SystemExit, pytest.exit.Exception) as exc:
                if self.role is not Role.WORKER:
                    raise  # --flaggems-isolate=none: pytest's own meaning (stop the session)
                # In a worker these can only come from candidate code: they end this operator's
                # test, not the session (a real Ctrl-C reaches the controller, which stops).
                raise guard.CandidateExit(f"the test raised {first_line(exc)}") from None
            finally:
                props.put(item, props.LAUNCHES, counter.launches)
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
        if not (self.settings.bench or self.isolated) or config.getoption("dist") not in ("load", "worksteal"):
            return None
        return operator_scheduling(config, log, self.retiring)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """A worker that retired on purpose (after an unclean operator) did not crash: the item it
        had not started yet is re-queued by ``OperatorScheduling``; its crash report is silenced."""
        if getattr(report.node, "gateway", None) is not None and report.node.gateway.id in self.retiring:
            report.outcome = "passed"
            report.flaggems_retired = True  # type: ignore[attr-defined]
        else:
            from pytest_flaggems_import.plugin.isolation import crash_reason
            from pytest_flaggems_import.runner.journal import Journal

            log = Journal(self._journal_dir).fault_log(report.node.gateway.id) if self._journal_dir else None
            props.put(report, props.ERROR, crash_reason(log, self.settings.timeout + 60))

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> Any:
        if getattr(report, "flaggems_retired", False):
            return "", "", ""
        return None

    # -- gathering outcomes ---------------------------------------------------------------
    def pytest_itemcollected(self, item: pytest.Item) -> None:
        """Tag each item of an operator file with its operator, kind and the file's item count."""
        operator = item.getparent(OperatorFile)
        if operator is None or props.has(item, props.ITEM):
            return
        record = self.index.get(Path(operator.path).resolve())
        loaded = operator.stash.get(LOADED, None)
        if record is not None:
            tag = {"op": record.op, "kind": item_kind(item), "of": loaded.items if loaded else None}
            props.put(item, props.ITEM, tag)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """A failure inside candidate code starts with the candidate's own line and the cause in
        one line; the full traceback (interpreter internals included) follows."""
        report = yield
        if report.failed and call.excinfo is not None and item.getparent(OperatorFile) is not None:
            summary = candidate_summary(call.excinfo)
            if summary:
                report.longrepr = f"{summary}\n\n{report.longreprtext}"
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if getattr(report, "flaggems_retired", False):
            return
        if props.read(report).get(props.RETIRE) and hasattr(report, "node"):
            self.retiring.add(report.node.gateway.id)
        self.outcomes.add(report)

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        self.interrupted = True

    # -- session end ----------------------------------------------------------------------
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.role is Role.WORKER:
            # The controller decides, once, from every worker's reports; it learns what the
            # workers ran on from here rather than importing flag_gems and CUDA itself.
            # Plain strings: execnet cannot send torch's TorchVersion (a str subclass).
            self.config.workeroutput["flaggems_env"] = {k: str(v) for k, v in self._environment().items()}
            return
        if self.config.option.collectonly:
            return  # nothing ran: nothing to decide, and no earlier result is touched
        rules = self.settings.rules
        folders = {op: r.folder_batch for op, r in self.records.items() if r.folder_batch is not None}
        self.interrupted = self.interrupted or exitstatus == pytest.ExitCode.INTERRUPTED
        self.partial = self.interrupted or not all(self.outcomes.complete(op) for op in self.records)
        your, flaggems = self.deciding_tables()
        self.deciding_your = your
        self.run_info = self.provenance()
        self.blocks = self.outcomes.blocked(
            allow_untested=self.settings.allow_untested,
            bench_decides=self.device == "cuda" or self.settings.allow_cpu_timings,
            perf_ops=your or {},
        )
        self.decisions = selection.select(
            your or {}, flaggems, rules, blocked={op: b.reason for op, b in self.blocks.items()},
            folders=folders, operators=self.records,
        )  # fmt: skip
        if self.settings.regen is not None:
            reporting.regenerate(self)
        if self.settings.report_dir is not None:
            self.reports_at = self._report_folder(self.settings.report_dir)
            reporting.write_reports(self, rules, self.reports_at)
        if self.settings.import_root is not None:
            failed = self._import(rules)
            if failed and session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _report_folder(self, folder: Path) -> Path:
        """``folder``, unless this run is partial and ``folder`` holds a complete session: a run
        that did not evaluate every operator never overwrites decisions about them; it writes
        into ``folder/partial/`` instead (SPEC 8; docs/reference.md)."""
        if not self.partial:
            return folder
        try:
            earlier = jsonio.read_json(folder / reports.SESSION_FILE)
        except InputError:
            return folder  # none there (or unreadable): nothing complete to protect
        complete = isinstance(earlier, dict) and not earlier.get("partial", False)
        return folder / reports.PARTIAL_DIR if complete else folder

    def live(self) -> bool:
        """Whether this session's own measurements decide (SPEC §7: CPU timings only if allowed)."""
        measured = any(r.bench for r in self.records.values())
        return measured and (self.device == "cuda" or self.settings.allow_cpu_timings)

    def deciding_tables(self) -> tuple[formats.PerfTable | None, formats.PerfTable | None]:
        if self.live():
            your, flaggems = benchmarks.measured_tables(self.records)
            return your, flaggems or None
        return self.your, self.flaggems

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        env = getattr(node, "workeroutput", {}).get("flaggems_env")
        if env:
            self.worker_env = env

    def _environment(self) -> dict[str, Any]:
        """Device, versions and which flag_gems ran the candidates (a worker's, when isolated)."""
        if self.worker_env:
            return self.worker_env
        from pytest_flaggems_import.runner import device, isolate

        return {**device.describe(self.device), "flag_gems": isolate.flag_gems_runtime().label}

    def provenance(self) -> dict[str, Any]:
        return {
            "tool": f"pytest-flaggems-import {__version__}",
            **self._environment(),
            "isolation": self.settings.isolate,
            "your_data": str(self.your_path) if self.your_path else None,
            "flaggems_data": str(self.flaggems_path) if self.flaggems_path else None,
            "measured_by": self._measured_by(),
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }

    def _measured_by(self) -> str:
        """What the deciding numbers are: the metric the rows record, not the one asked for (on
        the CPU only end-to-end ``operator`` timings exist)."""
        if not self.live():
            return "perf files (not re-measured)"
        metrics = sorted({row.get("metric", "?") for r in self.records.values() for row in r.bench})
        return f"live: {'/'.join(metrics)} timing on {self.device}, median of rounds"

    def _import(self, rules: selection.Rules) -> bool:
        from pytest_flaggems_import.importer import import_decisions

        outcome = import_decisions(
            decisions=[d for d in self.decisions if d.selected],
            spec_paths={r.op: Path(r.path) for r in self.records.values()},
            validation={op: {"total": r.ran, "passed": r.passed} for op, r in self.records.items()},
            rules=rules,
            root=self.settings.import_root,
            layout=self.settings.layout,
            dry_run=self.settings.dry_run,
            force=self.settings.force,
        )
        self.import_summary = outcome.lines
        if outcome.diff and self.reports_at is not None:
            self.diff_at = self.reports_at / reports.IMPORT_DIFF
            jsonio.write_atomic(self.diff_at, outcome.diff)
        else:
            self.import_diff = outcome.diff
        return outcome.failed

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.role is Role.WORKER or self.config.option.collectonly:
            return
        tr = terminalreporter
        if self.import_diff:
            tr.section("flaggems import: dry-run diff")
            tr.write_line(self.import_diff.rstrip("\n"))
        tr.section("flaggems selection")
        source = self.run_info["measured_by"] if self.live() else f"perf files: {self.your_path or 'none'}"
        tr.write_line(f"device: {self.device}; flag_gems: {self.run_info.get('flag_gems', '?')}; numbers: {source}")
        for line in self.import_summary:
            tr.write_line(line)
        if self.diff_at is not None:
            tr.write_line(f"dry-run diff written to {self.diff_at}")
        if self.deciding_your is not None:
            for warning in formats.cross_warnings(self.records, self.deciding_your, None):
                tr.write_line(f"warning: {warning}")
        if self.partial:
            tr.write_line(reporting.partial_note(self), yellow=True)
        if self.reports_at is not None:
            tr.write_line(f"reports written to {self.reports_at}")
        # The decision table comes last, so that it is what a user sees when the run ends.
        for line in reporting.decision_table(self):
            tr.write_line(line)
        if any(r.info_note() for r in self.records.values()):
            tr.write_line("info a/b: the generator's own claim (passed/total) from the operator file, never trusted; "
                          "'(disagrees)': not what ran here")  # fmt: skip
        for batch in (1, 2):
            mine = [d for d in self.decisions if d.batch == batch]
            if mine:
                tr.write_line(f"batch {batch}: {sum(d.selected for d in mine)} of {len(mine)} selected")

def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")


def _end_worker() -> None:
    """End this xdist worker now, its reports already sent: xdist starts a fresh one."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
