"""Shared fixtures; helpers live in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import EXAMPLES

pytest_plugins = ["pytester"]


@pytest.fixture
def examples() -> Path:
    return EXAMPLES
