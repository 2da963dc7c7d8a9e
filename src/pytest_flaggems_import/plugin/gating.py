"""The correctness gate's side in the deciding process (runner.gate runs the checks,
runner.gatekeeper starts them): which operators it checks, when, and what its verdicts block."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_flaggems_import.core.settings import Settings
from pytest_flaggems_import.plugin.outcomes import Block
from pytest_flaggems_import.plugin.records import OpRecord
from pytest_flaggems_import.runner.gate import finding
from pytest_flaggems_import.runner.gatekeeper import Gatekeeper

# A gate check's processes start torch, compile the operator for the gate's shapes and run its
# ~24-48 cases: more than one test's work, and on a loaded machine more than a short
# --flaggems-timeout (10 s timed out on a loaded 2-core CI machine). Its time limit, there to end a
# hang, is the test limit but never under this.
MIN_CHECK_SECONDS = 120.0
MAX_AT_ONCE = 8  # operators checked at once (each check is a fresh process, then the referee); 16 once
# tests were over was tried and made the wait for the gate longer (docs/benchmarks.md)


def gatekeeper(device: str, settings: Settings) -> Gatekeeper:
    """The session's gatekeeper. Candidate code runs only in the gate's own fresh processes, never
    here, confined as the workers are (scratch ``HOME``, memory, sandbox)."""
    from pytest_flaggems_import.runner.confine import Confinement

    confinement = Confinement(sandbox=settings.sandbox == "bwrap", max_memory=settings.max_memory)
    at_once = max(1, min(MAX_AT_ONCE, (os.cpu_count() or 2) // 2))
    return Gatekeeper(device, max(settings.timeout, MIN_CHECK_SECONDS), confinement, at_once)


def gate_configs(op: str, your: Mapping[str, Any]) -> list[tuple[list[int], str]]:
    """The (shape, dtype) configurations the gate's cases start from: the deciding perf rows'."""
    return [(list(c.shape), c.dtype) for c in your.get(op, ())]


def gate_blocks(keeper: Gatekeeper, chosen: Iterable[OpRecord], your: Mapping[str, Any]) -> dict[str, Block]:
    """The gate's verdict on each of ``chosen`` (operators about to be selected), recorded on its
    record, waiting for those started early and starting the others; the blocks for those it
    finds wrong."""
    records = list(chosen)
    keeper.tests_over(len(records))
    for record in records:
        keeper.start(Path(record.path), gate_configs(record.op, your))
    blocks = {}
    for record in records:
        record.gate = keeper.verdict(Path(record.path), gate_configs(record.op, your))
        why = finding(record.gate)
        if why is not None:
            blocks[record.op] = Block(f"{why} (--flaggems-gate=off)", failed=True)
    return blocks
