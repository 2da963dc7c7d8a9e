"""``FlaggemsSession``: the plugin's state and the hooks that decide (STYLE §2).

It indexes the operator files (JSON only, no torch), registers the role plugins (``running`` in
a process that runs candidates, ``isolation`` in xdist's controller), gathers outcomes from
reports (the same with and without xdist), and at session end hands them to ``core.selection``,
``plugin.reporting`` and, when asked, the importer.
"""

from __future__ import annotations

import datetime as dt
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flaggems_import import __version__
from pytest_flaggems_import.core import formats, jsonio, reports, selection
from pytest_flaggems_import.core.settings import Settings
from pytest_flaggems_import.core.shards import in_shard
from pytest_flaggems_import.errors import FlaggemsError, InputError, InputErrors
from pytest_flaggems_import.plugin import benchmarks, gating, props, reporting
from pytest_flaggems_import.plugin.failures import candidate_summary
from pytest_flaggems_import.plugin.isolation import ControllerIsolation, Role, role
from pytest_flaggems_import.plugin.items import LOADED, OperatorFile, item_kind
from pytest_flaggems_import.plugin.outcomes import Block, Outcomes
from pytest_flaggems_import.plugin.progress import Progress
from pytest_flaggems_import.plugin.records import index_operators, rekey, unique_records
from pytest_flaggems_import.runner import guard
from pytest_flaggems_import.runner.gatekeeper import Gatekeeper

if TYPE_CHECKING:
    from pytest_flaggems_import.plugin.running import CandidateRunner


class FlaggemsSession:
    def __init__(self, config: pytest.Config, settings: Settings, device: str) -> None:
        self.config = config
        self.settings = settings
        self.device = device  # resolved once, in pytest_configure
        # --flaggems-shard: the other shards' operators are not collected, decided or written.
        self.index = {p: r for p, r in index_operators(settings.ops).items() if in_shard(r.op, settings.shard)}
        self.records = unique_records(self.index.values())
        self.your, self.flaggems = self._perf_tables()
        self.outcomes = Outcomes(self.records, self.index, config.rootpath)
        self.progress = Progress(config, self.outcomes)
        self.blocks: dict[str, Block] = {}
        self.partial = False  # set at the end: some operator did not run completely
        self.interrupted = False
        self.reports_at: Path | None = None  # where this run's files went
        self.diff_at: Path | None = None
        self.import_diff = ""
        self.controller: ControllerIsolation | None = None  # the controller's isolation plugin
        self.runner: CandidateRunner | None = None  # the plugin running candidates, where this process does
        self._sigterm: Any = None
        self.decisions: list[selection.Decision] = []
        self.deciding_your: formats.PerfTable | None = None  # the numbers that decided, set at the end
        self.run_info: dict[str, Any] = {}  # provenance, computed once at the end
        self.import_summary: list[str] = []
        self.started = time.perf_counter()
        self.phases: dict[str, float] = {}  # where the session's wall time went, seconds (session.json "timing")
        self.gatekeeper: Gatekeeper | None = None  # the correctness gate's checks (SPEC 8), deciding process only
        self.gated_early: set[str] = set()  # operators considered for an early gate check
        self.gate_timing: dict[str, float] = {}  # checks run, started before the session's end, seconds by step

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
        your, fg = rekey(your, ops), rekey(fg, ops)
        if self.settings.shard is not None and your is not None:
            your = {op: configs for op, configs in your.items() if in_shard(op, self.settings.shard)}
        return your, fg

    def owns(self, path: Path) -> bool:
        return path.resolve() in self.index

    # -- process roles ----------------------------------------------------------------------
    @property
    def role(self) -> Role:
        return role(self.config)

    @property
    def isolated(self) -> bool:
        return self.settings.isolate == "process"

    def pytest_configure(self, config: pytest.Config) -> None:
        if self.role.runs_candidates:
            from pytest_flaggems_import.plugin.running import CandidateRunner

            self.runner = CandidateRunner(self)
            config.pluginmanager.register(self.runner, "flaggems-runner")
        if self.role is Role.CONTROLLER:
            self.controller = ControllerIsolation(config, self.settings, self.device)
            config.pluginmanager.register(self.controller, "flaggems-isolation")
        if self.role.decides and self.settings.gate == "on" and not config.option.collectonly:
            self.gatekeeper = gating.gatekeeper(self.device, self.settings)
        if self.role.decides and guard.on_main_thread():
            # SIGTERM ends the session as Ctrl-C does: partial session.json, nothing incomplete selected.
            self._sigterm = signal.signal(signal.SIGTERM, _interrupt)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.gatekeeper is not None:
            self.gatekeeper.close()  # an interrupted session waits for none of its checks
        if self._sigterm is not None:
            signal.signal(signal.SIGTERM, self._sigterm)

    def batch_of(self, op: str) -> int:
        record = self.records.get(op)
        folder = record.folder_batch if record else None
        return selection.assign_batch(op, self.settings.batch, self.flaggems, folder)  # type: ignore[arg-type]

    def marks_for(self, spec: formats.OperatorSpec, category: str) -> list[pytest.MarkDecorator]:
        return [getattr(pytest.mark, f"flaggems_batch{self.batch_of(spec.op)}"), getattr(pytest.mark, category)]

    # -- gathering outcomes ---------------------------------------------------------------
    def pytest_itemcollected(self, item: pytest.Item) -> None:
        """Tag each item of an operator file with its operator, kind and the file's item count."""
        operator = item.getparent(OperatorFile)
        if operator is None or props.has(item, props.ITEM):
            return
        record = self.index.get(Path(operator.path).resolve())
        loaded = operator.stash.get(LOADED, None)
        if record is not None:
            tag = props.ItemTag(record.op, item_kind(item), loaded.items if loaded else None)
            props.put(item, props.ITEM, tag.to_json())

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
        # Until the first report: starting workers, importing torch and Triton, collecting.
        self.phases.setdefault("startup", time.perf_counter() - self.started)
        if not getattr(report, "flaggems_retired", False):
            op = self.outcomes.add(report)
            if self.role.decides:
                self.progress.after(report)
                if op is not None and self.gatekeeper is not None and self.outcomes.complete(op):
                    self._gate_early(op)

    def _gate_early(self, op: str) -> None:
        """Start the gate's check of ``op`` now, while others are tested, if it would be selected
        on what is known of it (the final selection waits for the verdict, or starts the check
        if this guess missed it: the guess decides when, never what)."""
        if op in self.gated_early:
            return
        self.gated_early.add(op)
        block = self.outcomes.block_of(op, allow_untested=self.settings.allow_untested,
                                       bench_decides=self.device == "cuda" or self.settings.allow_cpu_timings)  # fmt: skip
        your, flaggems = self.deciding_tables()
        if block is not None or not your or op not in your:
            return
        folders = {op: self.records[op].folder_batch} if self.records[op].folder_batch is not None else {}
        (decision,) = selection.select({op: your[op]}, flaggems, self.settings.rules, folders=folders)  # type: ignore[dict-item]
        if decision.selected:
            self.gatekeeper.start(Path(self.records[op].path), gating.gate_configs(op, your))  # type: ignore[union-attr]

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        self.interrupted = True

    # -- session end ----------------------------------------------------------------------
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.role.decides or self.config.option.collectonly:
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
        chosen = [self.records[d.op] for d in self.decisions if d.selected and d.op in self.records]
        self.phases["tests"] = time.perf_counter() - self.started - self.phases.get("startup", 0.0)
        gate_started = time.perf_counter()
        gated = {}
        if self.gatekeeper is not None:
            early = self.gatekeeper.started
            gated = gating.gate_blocks(self.gatekeeper, chosen, your or {})
            self.gate_timing = {"gate_checks": self.gatekeeper.started, "gate_checks_early": early,
                                "gate_checks_unfinished_at_tests_end": self.gatekeeper.unfinished_at_tests_end or 0,
                                **{f"gate_{step}_seconds": s for step, s in self.gatekeeper.seconds.items()}}  # fmt: skip
        self.phases["gate"] = time.perf_counter() - gate_started  # waiting for the checks: what overlap did not hide
        if gated:
            self.blocks.update(gated)
            self.decisions = selection.select(
                your or {}, flaggems, rules, blocked={op: b.reason for op, b in self.blocks.items()},
                folders=folders, operators=self.records,
            )  # fmt: skip
        if self.settings.regen is not None:
            reporting.regenerate(self)
        if self.settings.report_dir is not None:
            started = time.perf_counter()
            self.reports_at = self._report_folder(self.settings.report_dir)
            reporting.write_reports(self, rules, self.reports_at)
            self.phases["reports"] = time.perf_counter() - started  # said on the terminal: the file holds the rest
        if self.settings.import_root is not None:
            try:
                failed = self._import(rules)
            except FlaggemsError as exc:  # a bad checkout, a git refusal: said, and the run fails
                self.import_summary, failed = [f"import failed; nothing written to the checkout: {exc}"], True
            if failed and session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _report_folder(self, folder: Path) -> Path:
        """``folder``, unless this run is partial and ``folder`` holds a complete session: a run
        that did not evaluate every operator never overwrites decisions about them; it writes
        into ``folder/partial/`` instead (SPEC 8; docs/reference.md)."""
        if not self.partial:
            return folder
        try:
            earlier = jsonio.read_json(folder / formats.SESSION_FILE)
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

    def environment(self) -> dict[str, Any]:
        """Device, versions and which flag_gems ran the candidates (a worker's, when isolated)."""
        if self.controller is not None and self.controller.worker_env:
            return self.controller.worker_env
        from pytest_flaggems_import.runner import device, isolate

        return {**device.describe(self.device), "flag_gems": isolate.flag_gems_runtime().label}

    def provenance(self) -> dict[str, Any]:
        return {
            "tool": f"pytest-flaggems-import {__version__}",
            **self.environment(),
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
        from pytest_flaggems_import.importer import PullRequests, import_decisions

        prs = None
        if self.settings.pr_dir is not None:
            prs = PullRequests(self.settings.pr_dir, self.settings.pr_lines, f"{self.device}", self.settings.branch,
                               (("Session", "this pytest session; its session.json beside the selected files"),))
        outcome = import_decisions(
            decisions=[d for d in self.decisions if d.selected],
            spec_paths={r.op: Path(r.path) for r in self.records.values()},
            validation={op: {"total": r.ran, "passed": r.passed} for op, r in self.records.items()},
            rules=rules,
            root=self.settings.import_root,
            layout=self.settings.layout,
            dry_run=self.settings.dry_run,
            force=self.settings.force,
            prs=prs,
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
        if self.phases:
            tr.write_line(reporting.time_line(reporting.timing(self)))
            note = reporting.bytecode_note()
            if note is not None:
                tr.write_line(note, yellow=True)
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
