"""Layered fixtures for pytester runs: an ops folder, then one with perf files."""

from __future__ import annotations

import json

import pytest

from helpers import operator_json, perf


@pytest.fixture
def ops_dir(pytester):
    """``ops/`` with one good operator; tests add more with ``add_op``."""
    pytester.mkdir("ops")
    (pytester.path / "ops" / "add_one.json").write_text(json.dumps(operator_json("add_one")))
    return pytester.path / "ops"


@pytest.fixture
def add_op(ops_dir):
    def add(name: str, data: dict, folder: str = "") -> None:
        target = ops_dir / folder / f"{name}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(data))

    return add


@pytest.fixture
def ops_dir_with_perf(ops_dir, pytester):
    (pytester.path / "your_perf_data.json").write_text(json.dumps(perf({"add_one": [([8], "fp32", 0.5, 1.0)]})))
    return ops_dir
