"""``FlaggemsSession``: the plugin's state and the hooks that need it (STYLE §2).

It indexes the operator files (JSON only, no torch), wraps each operator item in its isolation
contexts, gathers outcomes from reports (the same with and without xdist), and at session end
hands them to ``core.selection``, ``core.reports`` and, when asked, the importer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import faulthandler
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_flaggems_import import __version__
from pytest_flaggems_import.core import formats, jsonio, reports, selection
from pytest_flaggems_import.core.categories import infer_category
from pytest_flaggems_import.core.names import parse_op_name
from pytest_flaggems_import.core.settings import Settings
from pytest_flaggems_import.errors import InputError, InputErrors
from pytest_flaggems_import.plugin.items import LOADED, PROPERTY, Loaded, OperatorFile

SKIP_NAMES = {"your_perf_data.json", "flaggems_perf_data.json", "_metadata.json", "session.json"}


@dataclass
class OpRecord:
    """Everything the session learns about one operator."""

    op: str
    path: str
    folder_batch: int | None = None
    category: str | None = None
    info: dict | None = None
    has_tests: bool = False
    load_error: str | None = None
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    launches: int = 0
    failures: list[str] = field(default_factory=list)
    bench: list[dict] = field(default_factory=list)
    bench_error: str | None = None

    @property
    def ran(self) -> int:
        return self.passed + self.failed

    def info_note(self) -> str:
        """The generator's claim beside what was measured (SPEC §2: reported, never trusted)."""
        if not self.info or "total" not in self.info:
            return ""
        claim = f"{self.info.get('success', '?')}/{self.info['total']}"
        agrees = self.info.get("success") == self.passed and self.info["total"] == self.ran
        return f"info {claim}" + ("" if agrees else " (disagrees)")


def operator_files(folders: tuple[Path, ...]) -> list[Path]:
    files = []
    for folder in folders:
        for path in sorted(folder.rglob("*.json")):
            if path.name not in SKIP_NAMES and not path.name.startswith("selected_batch"):
                files.append(path)
    return files


def index_operators(folders: tuple[Path, ...]) -> dict[Path, OpRecord]:
    """Read every operator file once (JSON only); a malformed one is keyed by its file stem."""
    index = {}
    for path in operator_files(folders):
        try:
            data = jsonio.read_json(path)
            name = parse_op_name(data["op_name"]).short
        except (InputError, ValueError, KeyError, TypeError):
            index[path.resolve()] = OpRecord(op=path.stem, path=str(path), folder_batch=formats.folder_batch(path))
            continue
        index[path.resolve()] = OpRecord(
            op=name,
            path=str(path),
            folder_batch=formats.folder_batch(path),
            category=data.get("category") or infer_category(parse_op_name(name), str(data.get("code", ""))),
            info=data.get("info") if isinstance(data.get("info"), dict) else None,
            has_tests=bool(data.get("test_func")),
        )
    return index


def unique_records(records: Iterable[OpRecord]) -> dict[str, OpRecord]:
    """One record per operator; two files for one op would mix their outcomes (seed FAQ: name
    versions apart, ``gelu_v1``/``gelu_v2``)."""
    by_op: dict[str, OpRecord] = {}
    for record in records:
        if record.op in by_op:
            raise pytest.UsageError(
                f"{record.path}: operator {record.op!r} is also defined by {by_op[record.op].path}; give each version its own op_name"
            )
        by_op[record.op] = record
    return by_op


def rekey(table: formats.PerfTable | None, ops: list[str]) -> formats.PerfTable | None:
    """Key perf entries by the operator's short name when a file uses another spelling."""
    if table is None:
        return None
    table = dict(table)
    for op in ops:
        for key in parse_op_name(op).perf_keys():
            if key != op and key in table and op not in table:
                table[op] = table.pop(key)
    return table


def _failure_line(text: str) -> str:
    """The ``E   ...`` line of a failure report: the exception pytest shows."""
    lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return lines[0].split(": ", 1)[-1] if lines else _problem_line(text)


def _problem_line(text: str) -> str:
    """The reason in an ``OperatorProblem`` report, without xdist's ``[gw0] linux -- ...`` line."""
    lines = [line for line in text.strip().splitlines() if line.strip() and not line.startswith("[gw")]
    return lines[0].split(": ", 1)[-1] if lines else "failed"


class FlaggemsSession:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.index = index_operators(settings.ops)
        self.records = unique_records(self.index.values())
        self.your, self.flaggems = self._perf_tables()
        self._device: str | None = None
        self.decisions: list[selection.Decision] = []
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

        with device.device_context(self.device), guard.time_limit(self.settings.timeout):
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

    # -- benchmarks (issue: live measurements) ---------------------------------------------
    def bench_items(self, parent: OperatorFile, loaded: Loaded) -> Iterator[pytest.Item]:
        from pytest_flaggems_import.runner import bench

        assert loaded.spec is not None
        given = (self.your or {}).get(loaded.op or "")
        configs = (
            [bench.BenchConfig(c.shape, c.dtype) for c in given]
            if given
            else bench.default_configs(loaded.category, self.settings.bench_shapes, self.settings.bench_dtypes)
        )
        for config in configs:
            item = pytest.Function.from_parent(parent, name=f"bench[{config.id}]", callobj=self._bench(loaded, config))
            item.add_marker(pytest.mark.flaggems_bench)
            item.user_properties.append((PROPERTY, {"op": loaded.op, "kind": "bench"}))
            yield item

    def _bench(self, loaded: Loaded, config: Any) -> Any:
        from pytest_flaggems_import.runner import bench, isolate

        spec = loaded.spec
        assert spec is not None and loaded.module is not None
        candidate = isolate.entry_function(loaded.module, spec)

        def bench_operator(benchmark: Any, request: pytest.FixtureRequest) -> None:
            record = self.records[spec.op]
            if record.load_error or record.failed:
                pytest.skip("not benchmarked: its tests failed")
            custom = getattr(loaded.module, "bench_inputs", None) or getattr(
                request.node.parent.obj if spec.test_func else None, "bench_inputs", None
            )
            try:
                row = bench.measure(
                    candidate, spec.name, config, self.device, metric=self.settings.bench_metric,
                    params=spec.params, custom_inputs=custom, with_flaggems=self.flaggems_has(spec),
                )  # fmt: skip
            except bench.NotBenchmarkable as exc:
                pytest.skip(f"not benchmarkable: {exc}")
            request.node.user_properties.append(("flaggems_bench", [row]))
            benchmark.extra_info.update({k: v for k, v in row.items() if k != "spread"})
            benchmark.extra_info["spread"] = row["spread"]
            # pytest-benchmark's own figure is the end-to-end (operator) time of the candidate.
            benchmark.pedantic(self._synchronised(candidate, row, config, spec), rounds=10, warmup_rounds=2)

        return bench_operator

    def _synchronised(self, candidate: Any, row: dict, config: Any, spec: formats.OperatorSpec) -> Any:
        from pytest_flaggems_import.runner import bench, device

        reference = bench.aten_overload(spec.name)
        args, kwargs = bench.make_inputs(reference, config, self.device, spec.params) if reference else ([], {})

        def call() -> None:
            candidate(*args, **kwargs)
            device.synchronize(self.device)

        return call

    def flaggems_has(self, spec: formats.OperatorSpec) -> bool:
        from pytest_flaggems_import.runner import bench, isolate

        if isolate.flag_gems_runtime().standin or self.device != "cuda":
            return False
        return bench.flaggems_implements(spec.name, bench.flaggems_ops())

    def measured_tables(self) -> tuple[formats.PerfTable, formats.PerfTable]:
        your: formats.PerfTable = {}
        flaggems: formats.PerfTable = {}
        for op, record in self.records.items():
            rows = record.bench
            if not rows:
                continue
            extra = [{k: v for k, v in r.items() if k in ("metric", "device", "spread")} for r in rows]
            your[op] = tuple(
                formats.PerfConfig(tuple(r["shape"]), r["dtype"], r["your_time"], r["cuda_time"], e)
                for r, e in zip(rows, extra, strict=False)
            )
            if all("flaggems_time" in r for r in rows):
                flaggems[op] = tuple(
                    formats.PerfConfig(tuple(r["shape"]), r["dtype"], r["flaggems_time"], r["cuda_time"], e)
                    for r, e in zip(rows, extra, strict=False)
                )
        return your, flaggems

    # -- gathering outcomes ---------------------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(p for p in report.user_properties if isinstance(p, tuple) and len(p) == 2)
        mine = props.get(PROPERTY)
        if not isinstance(mine, dict) or mine.get("op") not in self.records:
            return
        record = self.records[mine["op"]]
        kind = mine.get("kind")
        if kind in ("load", "tests"):
            if report.failed and report.when == "call":
                record.load_error = _problem_line(report.longreprtext)
        elif kind == "bench":
            if report.when == "call":
                record.bench += props.get("flaggems_bench", [])
                if report.failed:
                    record.bench_error = _failure_line(report.longreprtext)
        elif report.when == "call" or not report.passed:
            self._count_test(record, report, int(props.get("flaggems_launches", 0)))

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
            your, flaggems = self.measured_tables()
            return your, flaggems or None
        return self.your, self.flaggems

    def _regenerate(self) -> None:
        your, flaggems = self.measured_tables()
        provenance = self.provenance()
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
        provenance = self.provenance()
        for batch in (1, 2):
            data = reports.selected_file(self.decisions, batch, rules, provenance)
            jsonio.write_json(folder / f"selected_batch{batch}.json", jsonio.rounded(data))
        session = {
            "provenance": provenance,
            "operators": {op: {**asdict(r), "info_note": r.info_note()} for op, r in sorted(self.records.items())},
            "decisions": [reports.decision_dict(d) for d in self.decisions],
        }
        jsonio.write_json(folder / "session.json", jsonio.rounded(session))

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
        tr.write_line(f"device: {self.device}; flag_gems: {isolate.flag_gems_runtime().label}; "
                      f"perf: {self.your_path or 'none'}")  # fmt: skip
        by_op = {d.op: d for d in self.decisions}
        width = max([len(op) for op in self.records] + [8])
        tr.write_line(f"{'op':<{width}} {'batch':<5} {'category':<10} {'tests':<22} {'metric':<22} decision")
        for op, r in sorted(self.records.items(), key=lambda kv: (self.batch_of(kv[0]), kv[0])):
            d = by_op.get(op)
            tests = f"{r.passed}/{r.ran}" + (f" {r.info_note()}" if r.info_note() else "")
            verdict = ("selected" if d.selected else f"rejected: {d.reason}") if d else "-"
            metric = reports.metric_text(d) if d else "-"
            batch = d.batch if d else self.batch_of(op)
            tr.write_line(f"{op:<{width}} {batch:<5} {r.category or '':<10} {tests:<22} {metric:<22} {verdict}")
        for batch in (1, 2):
            mine = [d for d in self.decisions if d.batch == batch]
            if mine:
                chosen = sum(d.selected for d in mine)
                tr.write_line(f"batch {batch}: {chosen} of {len(mine)} selected")
        if self.settings.report_dir is not None:
            tr.write_line(f"reports written to {self.settings.report_dir}")
        for line in self.import_summary:
            tr.write_line(line)
