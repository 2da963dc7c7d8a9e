"""``CandidateRunner``: the process that runs candidate code (an xdist worker, or the single
pytest process of ``--flaggems-isolate=none``), registered as plugin ``flaggems-runner``.

It loads each operator (with its journal in a worker, so code that kills a worker at import is
not loaded twice), runs the candidate's code, tests and benchmarks inside their guards (time
limit, launch count, tampering, scratch folder and side-effect watch: ``runner.confine``), checks
after each operator whether the process is still clean, and retires a worker that is not.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flaggems_import.core import formats
from pytest_flaggems_import.plugin import benchmarks, props
from pytest_flaggems_import.plugin.failures import first_line
from pytest_flaggems_import.plugin.isolation import Role
from pytest_flaggems_import.plugin.items import LOADED, IsolationItem, Loaded, OperatorFile, item_kind
from pytest_flaggems_import.plugin.props import ItemKind
from pytest_flaggems_import.runner import confine, gpu_lock, guard, proof
from pytest_flaggems_import.runner.compile_clock import CompileClock

if TYPE_CHECKING:
    from pytest_flaggems_import.plugin.session import FlaggemsSession

WORKER_ENV = "flaggems_env"  # workeroutput key: what the worker ran on (device, versions)
JOURNAL = "flaggems_journal"  # workerinput key: the controller's folder for journal and scratch


class CandidateRunner:
    def __init__(self, session: FlaggemsSession) -> None:
        self.session = session
        self.config = session.config
        self.settings = session.settings
        self.device = session.device
        self.role = session.role
        self.journal: Any = None  # runner.journal.Journal in workers
        self.scratch: confine.Scratch | None = None
        self._fault_log: Any = None
        self._before_load: Any = None
        self._retire = False
        self.compile_clock = CompileClock()
        self._waited = 0.0  # runner.gpu_lock.waited_in_process() at the last report

    @property
    def in_worker(self) -> bool:
        return self.role is Role.WORKER

    @property
    def isolated(self) -> bool:
        """``--flaggems-isolate=process`` (a worker may also run under ``none`` with ``-n``)."""
        return self.settings.isolate == "process"

    def pytest_configure(self, config: pytest.Config) -> None:
        folder = config.workerinput.get(JOURNAL) if self.in_worker else None
        if folder:
            from pytest_flaggems_import.runner.journal import Journal

            self.journal = Journal(folder)
            self._fault_log = self.journal.fault_log(config.workerinput["workerid"]).open("w")
        if self.in_worker:
            # A real Ctrl-C reaches the controller, which stops the session; in a worker, SIGINT
            # can only come from candidate code (os.kill(os.getpid(), SIGINT)): ignore it.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        confine.pin_caches()
        name = config.workerinput["workerid"] if self.in_worker else "main"
        self.scratch = confine.Scratch.make(folder, name)
        if self.settings.max_memory is not None:
            why_not = confine.limit_memory(self.settings.max_memory)
            if why_not is not None:
                raise pytest.UsageError(f"--flaggems-max-memory: {why_not}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.compile_clock.install()  # after configure: the worker's GPU is chosen before Triton loads
        gpu_lock.step_aside_while_compiling(self.device)  # a measurement need not wait for a compile
        if self._fault_log is not None:
            # After pytest's faulthandler plugin has pointed it at stderr: fatal errors (a
            # segfault, the hard time limit) go where the controller reads them, to say what
            # ended this worker (plugin.isolation.crash_reason).
            faulthandler.enable(file=self._fault_log, all_threads=False)
        factory = getattr(self.config, "_tmp_path_factory", None)
        if factory is not None and self.scratch is not None:
            # Tests may write to their tmp_path: pytest's temporary folder is not "outside".
            self.scratch.extra_allowed.append(factory.getbasetemp().resolve())

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.scratch is not None and self.journal is None:
            self.scratch.remove()  # a worker's lies in the journal folder, which the controller removes

    # -- loading --------------------------------------------------------------------------
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

    def load_candidate(self, spec: formats.OperatorSpec, category: str, side_effects: list[str]) -> tuple[Any, dict]:
        from pytest_flaggems_import.runner import device, isolate

        where = self.device  # flag_gems and torch's lazy imports were warmed by loading()
        confined = confine.confined(self.scratch, side_effects)
        with confined, device.device_context(where), guard.time_limit(self.settings.timeout):
            before = guard.snapshot()
            module = isolate.load_code(spec, category)
            tampered = guard.restore_tampering(before)
        if tampered:
            raise guard.Tampering(f"the code replaces {', '.join(tampered)} (restored)")
        modules = isolate.aliases(module, spec, category)
        if spec.test_func and isolate.uses_relative_imports(spec.test_func):
            modules.update(isolate.test_helpers(self.settings.root or self.settings.import_root))
        try:
            name = isolate.entry_name(module, spec)
        except LookupError:
            return module, modules  # its tests decide; without an entry, no guard and no benchmark
        if not (self.settings.allow_fallback and self.settings.allow_mutation and self.settings.allow_kernel_free):
            # Before test_func imports it: tests call the guarded entry (runner.proof).
            own = isolate.source_name(spec, "code") if not self.settings.allow_kernel_free else None
            setattr(module, name, proof.guarded(getattr(module, name), spec.name, own))
        return module, modules

    @contextlib.contextmanager
    def operator_context(self, loaded: Loaded, *, route: bool = True) -> Iterator[None]:
        """What candidate code of ``loaded`` runs in: its modules, the device, the scratch folder,
        and (``route``: not for benchmarks, which time FlagGems itself inside ``use_gems()``) the
        candidate behind ``use_gems()`` for its own ATen keys."""
        from pytest_flaggems_import.runner import device, dispatch, isolate

        if loaded.routes is None and loaded.module is not None and loaded.spec is not None:
            # Once per operator, not per item: what use_gems() routes and the package exports.
            loaded.routes = dispatch.candidate_keys(loaded.module, loaded.spec)
            loaded.exported = isolate.exports(loaded.module, loaded.spec)
        routed = dispatch.routing(isolate.flag_gems_runtime().module, (loaded.routes or {}) if route else {}, self.device)
        modules = isolate.candidate_modules(loaded.modules, loaded.exported)
        with modules, device.device_context(self.device), confine.confined(self.scratch, loaded.side_effects), routed:
            yield

    @contextlib.contextmanager
    def candidate_time(self) -> Iterator[None]:
        with guard.time_limit(self.settings.timeout):
            yield

    def bench_items(self, parent: OperatorFile, loaded: Loaded) -> Iterator[pytest.Item]:
        return benchmarks.bench_items(self.session, parent, loaded)

    # -- after each operator --------------------------------------------------------------
    def unclean(self, loaded: Loaded) -> list[str]:
        """What the operator did besides computing: leftovers in the process, side effects."""
        from pytest_flaggems_import.runner import hygiene

        found = hygiene.leftovers(loaded.before, self.device) if loaded.before is not None else []
        return found + list(dict.fromkeys(loaded.side_effects))[:5]

    def retire_after(self, item: pytest.Item) -> None:
        """Mark this worker for retirement once ``item``'s reports are sent (workers only)."""
        if self.in_worker:
            self._retire = True
            props.put(item, props.RETIRE, True)

    # -- running tests --------------------------------------------------------------------
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
        if self.in_worker:  # xdist replaces a worker that exits: a hung kernel ends the worker
            out = self._fault_log or sys.stderr
            faulthandler.dump_traceback_later(self.settings.timeout + 60, exit=True, file=out)
        try:
            with self.operator_context(loaded, route=item_kind(item) is not ItemKind.BENCH), self._sharing(item):
                return (yield)
        finally:
            if self.in_worker:
                faulthandler.cancel_dump_traceback_later()
            if item_kind(item) is ItemKind.BENCH and not _next_benchmark_of_same_operator(item, nextitem):
                gpu_lock.for_device(self.device).release()  # its benchmarks kept the device alone

    @contextlib.contextmanager
    def _sharing(self, item: pytest.Item) -> Iterator[None]:
        """A test shares its device with other tests, never with a measurement (runner.gpu_lock);
        a benchmark item takes the lock itself (plugin.benchmarks: it checks sharing, measures alone)."""
        if item_kind(item) is ItemKind.BENCH:
            yield
            return
        from pytest_flaggems_import.runner import device

        with gpu_lock.for_device(self.device).sharing():
            try:
                yield
            finally:
                # Kernels it queued and did not wait for must not run into a measurement.
                # (A broken CUDA context raises here: the isolation item reports that.)
                with contextlib.suppress(Exception):
                    device.synchronize(self.device)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """Each phase's report carries the plugin's properties as the plugin wrote them (a test
        that wrote one of them fails: it forged evidence), how long Triton compiled during the
        phase and how long it waited for the GPU lock (session.json ``timing``)."""
        report = yield
        forged = props.seal(item, report)
        if forged and not report.failed:
            why = f"the test wrote the plugin's own report properties ({', '.join(forged)}): evidence only the plugin writes"
            report.outcome, report.longrepr = "failed", why
            props.put(report, props.ERROR, why)
        seconds, kernels = self.compile_clock.take()
        if kernels:
            props.put(report, props.COMPILE, [round(seconds, 6), kernels])
        waited = gpu_lock.waited_in_process()
        if waited > self._waited:
            props.put(report, props.GPU_WAIT, round(waited - self._waited, 6))
            self._waited = waited
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        operator = item.getparent(OperatorFile)
        if operator is None or operator.stash[LOADED].module is None or isinstance(item, IsolationItem):
            return (yield)  # the isolation check must see the process as the operator left it

        from pytest_flaggems_import.runner.isolate import source_name

        spec = operator.stash[LOADED].spec
        own = source_name(spec, "code") if spec is not None else None
        before = guard.snapshot()
        proof.take_findings()  # none of an earlier item's count here
        limit = guard.time_limit(self.settings.timeout)
        with limit, guard.count_launches(own) as counter, guard.recording_replacements() as replaced:
            try:
                result = yield
            except (KeyboardInterrupt, SystemExit, pytest.exit.Exception) as exc:
                if not self.in_worker:
                    raise  # --flaggems-isolate=none: pytest's own meaning (stop the session)
                # In a worker these can only come from candidate code: they end this operator's
                # test, not the session (a real Ctrl-C reaches the controller, which stops).
                raise guard.CandidateExit(f"the test raised {first_line(exc)}") from None
            finally:
                props.put(item, props.LAUNCHES, counter.own)
                tampered = sorted({*guard.restore_tampering(before), *replaced})
        if tampered:
            raise guard.Tampering(f"the operator replaced {', '.join(tampered)} during the test (restored)")
        found = proof.take_findings()
        if found.ghost:
            props.put(item, props.GHOST, all(found.ghost))
        if item_kind(item) is ItemKind.TEST:
            if found.fallbacks and not self.settings.allow_fallback:
                ops = ", ".join(found.fallbacks)
                raise proof.Fallback(f"falls back to {ops}, the ATen op it replaces (--flaggems-allow-fallback)")
            if found.contract and not self.settings.allow_mutation:
                raise proof.BrokenContract(f"{'; '.join(found.contract)} (--flaggems-allow-mutation)")
            loaded = operator.stash[LOADED]
            if not loaded.looked_at:  # until one test is seen to check the candidate's output
                if self._passes_with_wrong_results(item, own):
                    props.put(item, props.VACUOUS, True)
                else:
                    loaded.looked_at = True
        return result

    def _passes_with_wrong_results(self, item: pytest.Item, own: str | None) -> bool:
        """Run the test again with every result of the candidate made wrong (runner.proof.poisoned):
        True if it passes anyway. Whatever the rerun finds or changes is discarded."""
        before = guard.snapshot()
        try:
            with proof.poisoned(), guard.time_limit(self.settings.timeout), guard.count_launches(own):
                item.runtest()
        except Exception:  # noqa: BLE001 - it failed: the test looks at the candidate's output
            return False
        except (KeyboardInterrupt, SystemExit, pytest.exit.Exception):
            if not self.in_worker:
                raise  # --flaggems-isolate=none: the user's Ctrl-C
            return False
        finally:
            guard.restore_tampering(before)
            proof.take_findings()
        return True

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.in_worker:
            # The controller decides, once, from every worker's reports; it learns what the
            # workers ran on from here rather than importing flag_gems and CUDA itself.
            # Plain strings: execnet cannot send torch's TorchVersion (a str subclass).
            self.config.workeroutput[WORKER_ENV] = {k: str(v) for k, v in self.session.environment().items()}


def _end_worker() -> None:
    """End this xdist worker now, its reports already sent: xdist starts a fresh one."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _next_benchmark_of_same_operator(item: pytest.Item, nextitem: pytest.Item | None) -> bool:
    """Whether ``nextitem`` is another benchmark of ``item``'s operator (which keeps the device)."""
    return nextitem is not None and nextitem.parent is item.parent and item_kind(nextitem) is ItemKind.BENCH
