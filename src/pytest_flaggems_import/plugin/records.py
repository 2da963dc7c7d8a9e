"""What the session knows per operator: the index of operator files (JSON only, read once at
configure time, so the xdist controller knows every operator without collecting) and the counts
gathered from reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_flaggems_import.core import formats
from pytest_flaggems_import.core.categories import infer_category
from pytest_flaggems_import.core.names import parse_op_name


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
    ghost_dependent: int = 0  # tests whose ghost replay changed the result
    ghost_independent: int = 0  # tests whose ghost replay gave the same result
    vacuous: int = 0  # passing tests that also passed with its results made wrong (until one did not)
    failures: list[str] = field(default_factory=list)
    bench: list[dict] = field(default_factory=list)
    bench_error: str | None = None
    bench_wrong: bool = False  # the benchmark failed because the output was wrong
    unclean: str | None = None  # what it left behind in its worker (a thread, a handler, CUDA)
    first_failure: str | None = None  # one line: how its first failing test failed
    gate: dict | None = None  # the correctness gate's verdict (runner.gate), for operators it checked
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of its items by kind (setup, call, teardown)
    compile_seconds: float = 0.0  # of that, Triton compiling its kernels (cache misses; runner.compile_clock)
    kernels_compiled: int = 0
    test_wait_seconds: float = 0.0  # its tests waiting for the GPU (a measurement had it alone)
    bench_split: dict[str, float] = field(default_factory=dict)  # its benchmark items' seconds: check, wait, alone

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


def index_operators(folders: tuple[Path, ...]) -> dict[Path, OpRecord]:
    """Read every operator file once (JSON only); a malformed one is keyed by its file stem."""
    index = {}
    for path, data in formats.operator_files(folders):
        try:
            name = parse_op_name(data["op_name"]).short  # type: ignore[index]
        except (ValueError, KeyError, TypeError):
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
    by_module: dict[str, OpRecord] = {}
    for record in records:
        if record.op in by_op:
            raise pytest.UsageError(
                f"{record.path}: operator {record.op!r} is also defined by {by_op[record.op].path}; give each version its own op_name"
            )
        by_op[record.op] = record
        module = _module_name(record.op)
        other = by_module.setdefault(module, record) if module else record
        if other is not record:
            raise pytest.UsageError(
                f"{record.path}: operator {record.op!r} and {other.op!r} ({other.path}) would share the module {module}.py; "
                "give one of them an \"entry\" or its own op_name"
            )
    return by_op


def _module_name(op: str) -> str | None:
    try:
        return parse_op_name(op).entry
    except ValueError:
        return None


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
