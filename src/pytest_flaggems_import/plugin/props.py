"""What items tell the session, as ``user_properties`` of their reports.

Properties survive pytest-xdist's report serialisation, and ``--junitxml`` writes them as
``<property name=... value=...>``: values that are not plain strings or numbers are written as
JSON text here (junitxml would otherwise write Python reprs) and decoded by ``read``.

A test can append to its item's ``user_properties`` too (``request.node``): each report carries
the plugin's keys only as the plugin wrote them (``seal``), and a test that wrote one fails.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass
from typing import Any

import pytest


class ItemKind(str, enum.Enum):
    """What an item of an operator file is (a ``str``: it travels as JSON)."""

    LOAD = "load"  # the operator's code loads and defines its entry
    TEST_IMPORT = "test_import"  # test_func failed to import: one item instead of its tests
    TEST = "test"  # one of test_func's tests
    BENCH = "bench"  # a benchmark of the operator against torch and FlagGems
    ISOLATION = "isolation"  # the operator left its worker clean


@dataclass(frozen=True)
class ItemTag:
    """Which operator an item belongs to, what kind of item it is, and how many items the
    operator has in all (None: unknown, its file did not load): what makes evidence complete."""

    op: str
    kind: ItemKind
    of: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind.value}

    @classmethod
    def from_json(cls, value: Any) -> ItemTag | None:
        """The tag back from a report; None if it is not one of ours."""
        try:
            return cls(str(value["op"]), ItemKind(value["kind"]), value.get("of") if isinstance(value.get("of"), int) else None)
        except (TypeError, KeyError, ValueError, AttributeError):
            return None


ITEM = "flaggems"  # an ItemTag, as JSON
ERROR = "flaggems_error"  # why an operator's load, tests or benchmark failed, one line
LAUNCHES = "flaggems_launches"  # launches of the candidate's own Triton kernels during a test
VACUOUS = "flaggems_vacuous"  # True: the test passed again with the candidate's results made wrong
GHOST = "flaggems_ghost"  # True: with its kernels turned into no-ops, the result changed (runner.proof)
BENCH = "flaggems_bench"  # measured rows of a benchmark item
RETIRE = "flaggems_retire"  # the worker that ran this item ends after it (an unclean operator)
COMPILE = "flaggems_compile"  # [seconds, kernels]: Triton compiling during this phase (runner.compile_clock)
BENCH_SPLIT = "flaggems_bench_split"  # a benchmark item's seconds: checking, waiting for the device, alone on it
GPU_WAIT = "flaggems_gpu_wait"  # seconds this phase waited for the GPU lock (runner.gpu_lock)
_JSON = (ITEM, BENCH, COMPILE, BENCH_SPLIT)
KEYS = frozenset({ITEM, ERROR, LAUNCHES, VACUOUS, GHOST, BENCH, RETIRE, COMPILE, BENCH_SPLIT, GPU_WAIT})
_WRITTEN = pytest.StashKey[list]()  # the properties the plugin put on an item, the entries themselves


def put(item: pytest.Item | pytest.TestReport, key: str, value: Any) -> None:
    entry = (key, json.dumps(value) if key in _JSON else value)
    item.user_properties.append(entry)
    if isinstance(item, pytest.Item):
        item.stash.setdefault(_WRITTEN, []).append(entry)


def seal(item: pytest.Item, report: pytest.TestReport) -> list[str]:
    """Make the report's properties under the plugin's keys exactly those the plugin put on the
    item (a test's appended, replaced or removed ones dropped or restored, also from the item for
    its later phases); the keys a test wrote, if any."""
    written = item.stash.get(_WRITTEN, [])
    forged = [p for p in item.user_properties if _ours(p) and not any(p is w for w in written)]
    if forged:
        item.user_properties[:] = [p for p in item.user_properties if not any(p is f for f in forged)]
    report.user_properties = [p for p in report.user_properties if not _ours(p)] + list(written)
    return sorted({p[0] for p in forged})


def _ours(prop: Any) -> bool:
    return isinstance(prop, tuple) and len(prop) > 0 and prop[0] in KEYS


def has(item: pytest.Item, key: str) -> bool:
    return any(isinstance(p, tuple) and p and p[0] == key for p in item.user_properties)


def read(report: pytest.TestReport) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for prop in report.user_properties:
        if not (isinstance(prop, tuple) and len(prop) == 2):
            continue
        key, value = prop
        if key in _JSON and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        found[key] = value
    return found
