"""Out-of-process screening (SPEC 8): the process that decides never runs candidate code.

``--flaggems-isolate=process`` (the default) runs operators in pytest-xdist workers, which the
plugin starts itself when the user did not ask for ``-n``: the controller collects nothing, runs
nothing, and decides from the workers' reports. What xdist does not do, this module adds:

- ``Role``: which process this is, named once (controller, worker, or a single process).
- ``enable_workers``: ``-n 1`` (or the user's ``-n``), file-grouped scheduling, enough restarts.
- ``OperatorScheduling``: xdist's ``loadfile`` (an operator's items run in order on one worker),
  except that a crashed item is not run again (xdist's ``loadscope`` would re-queue it and crash
  the next worker too), while the item a *retired* worker had not started yet is (it is innocent).
- ``ControllerIsolation``: the controller's side (plugin ``flaggems-isolation``): the journal
  folder the workers share, the sandbox they start in, what a lost worker's item failed of, and
  which workers retired on purpose.
"""

from __future__ import annotations

import enum
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pytest_flaggems_import.core.settings import Settings
from pytest_flaggems_import.plugin import props

RESTARTS_PER_OPERATOR = 2  # a crash at load and one in a test, for every operator, plus slack


class Role(enum.Enum):
    CONTROLLER = "controller"  # xdist's controller: decides, writes reports, never runs candidates
    WORKER = "worker"  # an xdist worker: runs candidates, decides nothing
    SINGLE = "single"  # no xdist (--flaggems-isolate=none): runs and decides in one process

    @property
    def decides(self) -> bool:
        return self is not Role.WORKER

    @property
    def runs_candidates(self) -> bool:
        return self is not Role.CONTROLLER


def role(config: pytest.Config) -> Role:
    """As xdist decides it (``xdist.plugin.pytest_configure``), so that it is known before xdist
    has registered its ``dsession``: a controller when tests are distributed and not just listed."""
    if hasattr(config, "workerinput"):
        return Role.WORKER
    distributed = config.pluginmanager.has_plugin("xdist") and config.getoption("dist", "no") != "no"
    return Role.CONTROLLER if distributed and not config.getoption("collectonly") else Role.SINGLE


def enable_workers(config: pytest.Config, operators: int | None = None) -> str | None:
    """Turn on xdist with one worker unless the user chose a number; returns why it could not.

    Runs in ``pytest_cmdline_main`` before xdist's own, which turns ``numprocesses`` into workers.
    """
    if hasattr(config, "workerinput") or config.getoption("collectonly"):
        return None  # a worker itself; or --co, which runs nothing
    if not config.pluginmanager.has_plugin("xdist"):
        return "pytest-xdist is not available (installed, and not disabled with -p no:xdist)"
    if config.getoption("usepdb", False) or config.getoption("trace", False):
        return "--pdb/--trace debug in one process"
    if not config.option.numprocesses:  # None, or 0 from an addopts "-n 0"
        config.option.numprocesses = 1
    if config.option.maxworkerrestart is None:
        config.option.maxworkerrestart = str(10 + RESTARTS_PER_OPERATOR * (operators or 50))
    return None


def operator_scheduling(config: pytest.Config, log: Any, retiring: set[str]) -> Any:
    from xdist.scheduler import LoadFileScheduling

    class OperatorScheduling(LoadFileScheduling):
        def remove_node(self, node: Any) -> str | None:
            """As ``LoadScopeScheduling.remove_node``, but the item a crashed worker was running is
            not queued again (xdist's would run it on the next worker, which it crashes too), the
            units finished already are not queued again, and what a *retired* worker had not
            started yet is (it is innocent)."""
            workload = self.assigned_work.pop(node)
            if not self._pending_of(workload):
                return None
            crashitem = next(nodeid for unit in workload.values() for nodeid, done in unit.items() if not done)
            if node.gateway.id not in retiring:
                for unit in workload.values():
                    if crashitem in unit:
                        unit[crashitem] = True
            for scope, unit in workload.items():
                if not all(unit.values()):
                    self.workqueue[scope] = unit
            for other in list(self.assigned_work):
                self._reschedule(other)
            return crashitem

        def _reschedule(self, node: Any) -> None:
            """A worker runs an item only once it holds the next one (or is told to shut down).
            A replacement worker gets one re-queued unit, which after a crash may hold a single
            item: give it a second unit, or shut it down when none is left, or both wait."""
            if node not in self.assigned_work or node not in self.registered_collections:
                return  # shut down as surplus, removed, or a replacement still collecting
            super()._reschedule(node)
            while not node.shutting_down and self.workqueue and self._pending_of(self.assigned_work[node]) < 2:
                self._assign_work_unit(node)
            if not node.shutting_down and not self.workqueue:
                node.shutdown()

    return OperatorScheduling(config, log)


def crash_reason(fault_log: Path | None, hard_limit_s: float) -> str:
    """What ended a worker, from what its faulthandler wrote (nothing: it got no chance to)."""
    text = ""
    if fault_log is not None:
        try:
            text = fault_log.read_text(errors="replace")
        except OSError:
            text = ""
    fatal = next((line.strip() for line in text.splitlines() if line.startswith("Fatal Python error:")), None)
    if fatal:
        return f"the test crashed its worker process ({fatal.removeprefix('Fatal Python error: ')})"
    if text.startswith("Timeout ("):
        return f"the test hung past the hard limit ({hard_limit_s:g} s) and its worker was ended"
    return "the test ended its worker process without a Python error (os._exit, SIGKILL or the OOM killer)"


GPU = "flaggems_gpu"  # workerinput key: the CUDA_VISIBLE_DEVICES entry a worker is pinned to


class ControllerIsolation:
    """The controller's part of process isolation (registered only in xdist's controller)."""

    def __init__(self, config: pytest.Config, settings: Settings, device: str = "cpu") -> None:
        self.config = config
        self.settings = settings
        self.device = device
        self._gpus: list[str] | None = None
        self.isolated = settings.isolate == "process"
        self.retiring: set[str] = set()  # workers (gateway ids) that retire after an unclean operator
        self.worker_env: dict[str, Any] | None = None  # what the workers ran on, from the last one down
        self.journal_dir: str | None = tempfile.mkdtemp(prefix="flaggems-journal-") if self.isolated else None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Before xdist's own (trylast), which starts the workers from --tx.
        if self.journal_dir and self.settings.sandbox == "bwrap":
            self._sandbox_workers(Path(self.journal_dir))

    def _sandbox_workers(self, journal: Path) -> None:
        """Start each local worker (``popen``) under bubblewrap; other ``--tx`` specs are left alone."""
        from pytest_flaggems_import.errors import UsageError
        from pytest_flaggems_import.runner import confine

        writable = [journal, self.config._tmp_path_factory.getbasetemp(), *confine.cache_folders()]
        try:
            python = confine.sandbox_command(writable, journal / "tmp", sys.executable)
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.config.option.tx = [
            f"{spec}//python={python}" if spec.split("*")[-1] == "popen" else spec for spec in self.config.option.tx
        ]

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.journal_dir:
            shutil.rmtree(self.journal_dir, ignore_errors=True)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self.journal_dir:
            from pytest_flaggems_import.plugin.running import JOURNAL

            node.workerinput[JOURNAL] = self.journal_dir
        if self.device == "cuda":
            # One worker group per GPU: worker gwN gets entry N mod len of the caller's
            # CUDA_VISIBLE_DEVICES list (or of the GPUs the driver counts); the worker sets it
            # before CUDA starts (plugin.hooks). Timing stays one at a time per GPU (gpu_lock).
            from pytest_flaggems_import.runner import device

            if self._gpus is None:
                self._gpus = device.visible_gpus()
            pinned = device.gpu_for_worker(self._gpus, node.gateway.id)
            if pinned is not None:
                node.workerinput[GPU] = pinned

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Send each operator file whole to one worker, in order (``OperatorScheduling``).

        A bench item skips an operator whose tests failed, which it only knows when those tests
        ran in its own worker; the isolation item must run last, where the operator ran. xdist's
        default (``load``) and ``worksteal`` spread one file's items over workers. A mode the user
        chose for grouping (``loadscope``, ``loadfile``, ``loadgroup``, ``each``) is left alone.
        """
        if not (self.settings.bench or self.isolated) or config.getoption("dist") not in ("load", "worksteal"):
            return None
        return operator_scheduling(config, log, self.retiring)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """A worker that retired on purpose (after an unclean operator) did not crash: the item it
        had not started yet is re-queued by ``OperatorScheduling``; its crash report is silenced.
        Otherwise the crashed item fails with what ended the worker."""
        if getattr(report.node, "gateway", None) is not None and report.node.gateway.id in self.retiring:
            report.outcome = "passed"
            report.flaggems_retired = True  # type: ignore[attr-defined]
            return
        from pytest_flaggems_import.runner.journal import Journal

        log = Journal(self.journal_dir).fault_log(report.node.gateway.id) if self.journal_dir else None
        props.put(report, props.ERROR, crash_reason(log, self.settings.timeout + 60))

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> Any:
        if getattr(report, "flaggems_retired", False):
            return "", "", ""
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if props.read(report).get(props.RETIRE) and hasattr(report, "node"):
            self.retiring.add(report.node.gateway.id)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        from pytest_flaggems_import.plugin.running import WORKER_ENV

        env = getattr(node, "workeroutput", {}).get(WORKER_ENV)
        if env:
            self.worker_env = env
