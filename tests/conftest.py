"""Shared fixtures; helpers live in helpers.py."""

from __future__ import annotations

from pathlib import Path

# Imported before any test: pytester's teardown removes the modules imported during its test, and
# numpy's C extension cannot be loaded twice in one process. A test that builds a report in
# process inside a pytester test (tests/plugin/test_shards.py) would otherwise leave numpy
# half-gone for the next test of its worker.
import matplotlib.pyplot  # noqa: F401 - imports numpy too
import pytest

from helpers import EXAMPLES

pytest_plugins = ["pytester"]


@pytest.fixture
def examples() -> Path:
    return EXAMPLES
