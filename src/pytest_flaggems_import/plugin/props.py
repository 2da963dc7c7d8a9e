"""What items tell the session, as ``user_properties`` of their reports.

Properties survive pytest-xdist's report serialisation, and ``--junitxml`` writes them as
``<property name=... value=...>``: values that are not plain strings or numbers are written as
JSON text here (junitxml would otherwise write Python reprs) and decoded by ``read``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

ITEM = "flaggems"  # {"op", "kind", "of"}: which operator, what kind of item, how many items it has
ERROR = "flaggems_error"  # why an operator's load, tests or benchmark failed, one line
LAUNCHES = "flaggems_launches"  # launches of the candidate's own Triton kernels during a test
GHOST = "flaggems_ghost"  # True: with its kernels turned into no-ops, the result changed (runner.proof)
BENCH = "flaggems_bench"  # measured rows of a benchmark item
RETIRE = "flaggems_retire"  # the worker that ran this item ends after it (an unclean operator)
_JSON = (ITEM, BENCH)


def put(item: pytest.Item | pytest.TestReport, key: str, value: Any) -> None:
    item.user_properties.append((key, json.dumps(value) if key in _JSON else value))


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
