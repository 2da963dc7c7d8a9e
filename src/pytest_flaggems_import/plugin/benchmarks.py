"""Benchmark items (``gelu.json::bench[float16-4096x4096]``) and the tables their rows make.

Each item is a ``pytest.Function`` that takes pytest-benchmark's ``benchmark`` fixture, so that
plugin's storage and comparisons work; the GPU-correct figures come from ``runner.bench`` and
travel to the session in ``user_properties`` (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flaggems_import.core import formats
from pytest_flaggems_import.plugin import props
from pytest_flaggems_import.plugin.items import Loaded, OperatorFile
from pytest_flaggems_import.plugin.records import OpRecord

if TYPE_CHECKING:
    from pytest_flaggems_import.plugin.session import FlaggemsSession
    from pytest_flaggems_import.runner.gpu_lock import DeviceLock


def bench_items(session: FlaggemsSession, parent: OperatorFile, loaded: Loaded) -> Iterator[pytest.Item]:
    benchmarks = OperatorBenchmarks(session, loaded, bench_configs(session, loaded))
    for config in benchmarks.configs:
        item = pytest.Function.from_parent(parent, name=item_name(config), callobj=benchmarks.function(config))
        item.add_marker(pytest.mark.flaggems_bench)
        yield item


def item_name(config: Any) -> str:
    return f"bench[{config.id}]"


def bench_configs(session: FlaggemsSession, loaded: Loaded) -> list[Any]:
    """The perf file's configs for this op, else the defaults; on the CPU each shrunk to at most
    ``bench.CPU_MAX_ELEMENTS`` elements (and deduplicated): the interpreter runs a 4096x4096
    config for minutes, and CPU timings decide nothing anyway (SPEC §7)."""
    from pytest_flaggems_import.runner import bench

    settings = session.settings
    given = (session.your or {}).get(loaded.op or "")
    configs = (
        [bench.BenchConfig(c.shape, c.dtype) for c in given]
        if given
        else bench.default_configs(loaded.category, settings.bench_shapes, settings.bench_dtypes)
    )
    if session.device != "cuda":
        configs = list(dict.fromkeys(bench.cpu_sized(c) for c in configs))
    return configs


class OperatorBenchmarks:
    """One operator's benchmark items: its candidate, its configurations, their checks.

    The operator's first item checks every configuration (the candidate's first calls: Triton
    compiles its kernels for each shape and dtype) while other workers' tests share the device;
    then its items take the device alone and keep it until the last of them ends (the runner
    releases it): running tests drain once per operator, not once per configuration."""

    def __init__(self, session: FlaggemsSession, loaded: Loaded, configs: list[Any]) -> None:
        from pytest_flaggems_import.runner import bench, isolate, proof

        assert loaded.spec is not None and loaded.module is not None
        self.session, self.loaded, self.spec, self.configs = session, loaded, loaded.spec, configs
        self.candidate: Callable | None = None
        self.missing = ""
        try:
            self.candidate = proof.unguarded(isolate.entry_function(loaded.module, self.spec))  # no dispatch mode in timings
        except LookupError as exc:
            self.missing = str(exc)
        self.tunes = bench.tunes_itself(loaded.module)
        self._checked: dict[str, Any] = {}  # config id → its bench.Checked, or what its check raised
        self._ran: set[str] = set()  # config ids whose item has run

    @functools.cached_property
    def with_flaggems(self) -> bool:
        """Whether FlagGems is timed beside the candidate (asked once per operator, at its first item)."""
        return flaggems_has(self.session, self.spec)

    def function(self, config: Any) -> Callable[..., None]:
        def bench_operator(benchmark: Any, request: pytest.FixtureRequest) -> None:
            self._ran.add(config.id)
            self.run(benchmark, request, config)

        return bench_operator

    def run(self, benchmark: Any, request: pytest.FixtureRequest, config: Any) -> None:
        from pytest_flaggems_import.runner import bench, device, gpu_lock

        record, spec, candidate = self.session.records[self.spec.op], self.spec, self.candidate
        if record.load_error or record.failed:
            pytest.skip("not benchmarked: its tests failed")
        if candidate is None:
            pytest.skip(f"not benchmarkable: {self.missing}")
        tests_module = request.node.parent.obj if spec.test_func else None
        custom = getattr(self.loaded.module, "bench_inputs", None) or getattr(tests_module, "bench_inputs", None)
        lock = gpu_lock.for_device(self.session.device)
        started = time.monotonic()
        if config.id not in self._checked:
            self._check(self._unchecked(request, config), custom, lock)
        checked = _guarded(request, lambda: _returned(self._checked.pop(config.id)))
        checked_at = time.monotonic()
        # Timing never overlaps other work on the device (SPEC 9): tests in other workers wait.
        lock.hold(spec.op)
        alone_at, compiled_before = time.monotonic(), self._compiled()
        row = _guarded(request, lambda: bench.measure(
            candidate, spec.name, config, self.session.device, metric=self.session.settings.bench_metric,
            params=spec.params, custom_inputs=custom, with_flaggems=self.with_flaggems,
            checked=checked,
        ))  # fmt: skip
        props.put(request.node, props.BENCH, [row])
        benchmark.extra_info.update(row)
        # pytest-benchmark's own figure: the candidate end to end (synchronised calls).
        _, args, kwargs = bench.inputs_for(spec.name, config, self.session.device, spec.params, custom)

        def call() -> None:
            candidate(*args, **kwargs)
            device.synchronize(self.session.device)

        benchmark.pedantic(call, rounds=10, warmup_rounds=2)
        split = {"check": checked_at - started, "wait": alone_at - checked_at, "alone": time.monotonic() - alone_at,
                 "compile_alone": self._compiled() - compiled_before}  # fmt: skip
        props.put(request.node, props.BENCH_SPLIT, {k: round(v, 6) for k, v in split.items()})

    def _compiled(self) -> float:
        """Seconds Triton has compiled in this item so far (runner.compile_clock)."""
        runner = self.session.runner
        return runner.compile_clock.seconds if runner is not None else 0.0

    def _unchecked(self, request: pytest.FixtureRequest, config: Any) -> list[Any]:
        """This configuration and those of the operator's items still to run in this session."""
        to_run = {i.name for i in request.session.items if i.parent is request.node.parent}
        return [c for c in self.configs if c == config or (item_name(c) in to_run and c.id not in self._ran)]

    def _check(self, configs: list[Any], custom: Callable | None, lock: DeviceLock) -> None:
        """Check ``configs``, keeping each one's inputs or what its check raised (for its own item).

        No timing: other workers' tests share the device meanwhile. A candidate with its own
        autotuner times itself on these calls: alone, then."""
        from pytest_flaggems_import.runner import bench, device

        assert self.candidate is not None
        warm_flaggems = self.with_flaggems and not bench.flaggems_tunes(self.spec.name)
        with lock.alone() if self.tunes else lock.sharing():
            for config in configs:
                try:
                    checked = bench.checked_inputs(
                        self.candidate, self.spec.name, config, self.session.device, self.spec.params, custom
                    )
                except Exception as exc:  # noqa: BLE001 - raised again by the item of that configuration
                    self._checked[config.id] = exc
                    continue
                self._checked[config.id] = checked
                if warm_flaggems:
                    # FlagGems compiles here, not alone on the device; what it raises, measure
                    # raises again where it always did (the candidate is not to blame for it).
                    with contextlib.suppress(Exception):
                        bench.first_flaggems_calls(checked)
            device.synchronize(self.session.device)


def _returned(checked: Any) -> Any:
    if isinstance(checked, Exception):
        raise checked
    return checked


def _guarded(request: pytest.FixtureRequest, step: Callable[[], Any]) -> Any:
    """``step``'s result; an operator that cannot be benchmarked skips, a wrong result fails
    and says why (the session's ``bench_error``)."""
    from pytest_flaggems_import.runner import bench

    try:
        return step()
    except bench.NotBenchmarkable as exc:
        pytest.skip(f"not benchmarkable: {exc}")
    except bench.WrongResult as exc:
        props.put(request.node, props.ERROR, str(exc))
        raise


def flaggems_has(session: FlaggemsSession, spec: formats.OperatorSpec) -> bool:
    """Whether the installed FlagGems implements the op (never the stand-in, never on the CPU)."""
    from pytest_flaggems_import.runner import bench, isolate

    if isolate.flag_gems_runtime().standin or session.device != "cuda":
        return False
    return bench.flaggems_implements(spec.name, bench.flaggems_ops())


def measured_tables(records: Mapping[str, OpRecord]) -> tuple[formats.PerfTable, formats.PerfTable]:
    """The session's rows as perf tables: (your, flaggems), spread kept as extra keys."""
    your: formats.PerfTable = {}
    flaggems: formats.PerfTable = {}
    for op, record in records.items():
        rows = record.bench
        if not rows:
            continue
        extras = [{k: r[k] for k in ("metric", "device", "spread", "bytes", "peak_bandwidth") if k in r} for r in rows]
        your[op] = tuple(_config(r, "your_time", e) for r, e in zip(rows, extras, strict=True))
        if all("flaggems_time" in r for r in rows):
            flaggems[op] = tuple(_config(r, "flaggems_time", e) for r, e in zip(rows, extras, strict=True))
    return your, flaggems


def _config(row: dict, key: str, extra: dict) -> formats.PerfConfig:
    return formats.PerfConfig(tuple(row["shape"]), row["dtype"], row[key], row["cuda_time"], extra)
