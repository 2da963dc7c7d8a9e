"""Gathering outcomes: reports → per-operator counts, completeness, and why an operator is blocked.

The same code runs with and without xdist: it only reads reports, whose ``user_properties`` carry
an ``ItemTag`` (the operator, the item's kind, how many items the operator has in all; SPEC 8,
complete evidence: an operator is selectable only if every one of its items ran and passed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_flaggems_import.plugin import props
from pytest_flaggems_import.plugin.props import ItemKind
from pytest_flaggems_import.plugin.records import OpRecord


@dataclass(frozen=True)
class Block:
    """Why an operator cannot be selected, whatever its speed."""

    reason: str
    failed: bool  # True: the operator failed (never imported); False: evidence is missing


def final(report: pytest.TestReport) -> bool:
    """The report that settles an item: its call, or a setup that failed or skipped."""
    return report.when == "call" or (report.when == "setup" and not report.passed)


class Outcomes:
    """Per-operator counts from reports (``records``), and which items of each ran (``finished``)."""

    def __init__(self, records: Mapping[str, OpRecord], index: Mapping[Path, OpRecord], rootpath: Path) -> None:
        self.records = records
        self.index = index
        self.rootpath = rootpath
        self.expected: dict[str, int] = {}  # op → number of items its file collected
        self.finished: dict[str, set[str]] = {}  # op → node ids with a final report

    def add(self, report: pytest.TestReport) -> str | None:
        """Count ``report``; the operator it belongs to (None: not an operator's item)."""
        found = props.read(report)
        tag = props.ItemTag.from_json(found.get(props.ITEM))
        crashed = tag is None
        if crashed:
            # xdist's report for an item whose worker crashed (segfault, hard timeout) carries no
            # properties (and ``when`` is "???"): find the operator from the node id, and count
            # it as a failed test that ran.
            tag = self._crashed_item(report)
        if tag is None or tag.op not in self.records:
            return None
        record = self.records[tag.op]
        record.seconds[tag.kind.value] = record.seconds.get(tag.kind.value, 0.0) + (report.duration or 0.0)
        compiled = found.get(props.COMPILE)
        if isinstance(compiled, list) and len(compiled) == 2:
            record.compile_seconds += float(compiled[0])
            record.kernels_compiled += int(compiled[1])
            if tag.kind is ItemKind.BENCH:
                record.bench_split["compile"] = record.bench_split.get("compile", 0.0) + float(compiled[0])
        if tag.kind is ItemKind.TEST:
            record.test_wait_seconds += float(found.get(props.GPU_WAIT, 0.0))
        if tag.of is not None:
            self.expected[tag.op] = max(self.expected.get(tag.op, 0), tag.of)
        if final(report) or crashed:
            self.finished.setdefault(tag.op, set()).add(report.nodeid)
        if tag.kind in (ItemKind.LOAD, ItemKind.TEST_IMPORT):
            if report.failed and report.when == "call":
                record.load_error = found.get(props.ERROR, "failed")
        elif tag.kind is ItemKind.ISOLATION:
            if report.failed and report.when == "call":
                record.unclean = found.get(props.ERROR, "left its worker unclean")
        elif tag.kind is ItemKind.BENCH:
            if report.when == "call":
                record.bench += found.get(props.BENCH, [])
                for step, seconds in (found.get(props.BENCH_SPLIT) or {}).items():
                    record.bench_split[step] = record.bench_split.get(step, 0.0) + float(seconds)
                if report.failed:
                    record.bench_error = found.get(props.ERROR, f"benchmark failed: {report.nodeid}")
                    record.bench_wrong = props.ERROR in found
        elif final(report) or crashed or not report.passed:
            _count_test(record, report, int(found.get(props.LAUNCHES, 0)))
            if report.passed and found.get(props.VACUOUS):
                record.vacuous += 1
            if report.passed and props.GHOST in found:
                if found[props.GHOST]:
                    record.ghost_dependent += 1
                else:
                    record.ghost_independent += 1
            if report.failed and record.first_failure is None:
                record.first_failure = found.get(props.ERROR) or failure_line(report)
        return tag.op

    def _crashed_item(self, report: pytest.TestReport) -> props.ItemTag | None:
        if not report.failed:
            return None
        path = (self.rootpath / report.nodeid.split("::")[0]).resolve()
        record = self.index.get(path)
        return props.ItemTag(record.op, ItemKind.TEST) if record else None

    def completeness(self, op: str) -> tuple[int, int | None]:
        """(items that ran, items the operator has; ``None`` when it was never collected)."""
        return len(self.finished.get(op, ())), self.expected.get(op)

    def complete(self, op: str) -> bool:
        ran, expected = self.completeness(op)
        return expected is not None and ran >= expected

    def blocked(self, *, allow_untested: bool, bench_decides: bool, perf_ops: Mapping[str, object]) -> dict[str, Block]:
        """Why each operator cannot be selected whatever its speed (SPEC §1, §8), from this run."""
        reasons = {op: block for op, r in self.records.items() if (block := self._block(op, r, allow_untested, bench_decides))}
        for op in perf_ops:
            if op not in self.records:
                reasons[op] = Block("no operator file (perf data only)", failed=False)
        return reasons

    def block_of(self, op: str, *, allow_untested: bool, bench_decides: bool) -> Block | None:
        """Why ``op`` cannot be selected whatever its speed, from this run so far (None: nothing)."""
        return self._block(op, self.records[op], allow_untested, bench_decides)

    def _block(self, op: str, r: OpRecord, allow_untested: bool, bench_decides: bool) -> Block | None:
        ran, expected = self.completeness(op)
        if r.load_error:
            return Block(r.load_error, failed=True)
        if r.failed:
            how = f"; first: {r.first_failure}" if r.first_failure else ""
            return Block(f"tests failed: {r.failed} of {r.ran}{how}", failed=True)
        if r.unclean:
            return Block(r.unclean, failed=True)
        if not r.has_tests and not allow_untested:
            return Block("no tests", failed=False)
        if expected is None:
            return Block("not run in this session", failed=False)
        if ran < expected:
            return Block(f"incomplete: {ran} of its {expected} items ran in this session", failed=False)
        if r.has_tests and r.passed == 0:
            return Block("no test passed (all skipped)", failed=False)
        if r.passed and r.launches == 0:
            return Block("no Triton kernel of its own ran in its tests", failed=True)
        if r.passed and r.vacuous == r.passed and not allow_untested:
            return Block("its tests pass whatever it returns (vacuous: run again with its results made wrong, "
                         "they still pass; --flaggems-allow-untested)", failed=False)  # fmt: skip
        if r.ghost_independent and not r.ghost_dependent:
            return Block("its results do not depend on its own kernels (ghost replay: the same output with "
                         "them turned into no-ops; --flaggems-allow-kernel-free)", failed=True)  # fmt: skip
        if r.bench_error and (bench_decides or r.bench_wrong):
            # On the CPU, timings decide nothing (SPEC §7): a benchmark that timed out there
            # blocks nothing; a wrong result at a benchmark shape always does.
            return Block(r.bench_error, failed=True)
        return None


def failure_line(report: pytest.TestReport) -> str | None:
    """The one line that says how a test failed (``AssertionError: ...``), where pytest has it."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = getattr(crash, "message", None) or (report.longrepr if isinstance(report.longrepr, str) else None)
    if not text or not text.strip():
        return None
    lines = text.strip().splitlines()
    cause = next((line.removeprefix("cause: ") for line in lines if line.startswith("cause: ")), None)
    return (cause or lines[0])[:200]


def _count_test(record: OpRecord, report: pytest.TestReport, launches: int) -> None:
    record.launches += launches
    if report.when == "call" and report.passed:
        record.passed += 1
    elif report.skipped:
        record.skipped += 1
    else:
        record.failed += 1
        record.failures.append(report.nodeid)
