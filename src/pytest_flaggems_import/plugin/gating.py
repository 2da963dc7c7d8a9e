"""The correctness gate's side in the deciding process (runner/gate.py runs the checks): which
operators it checks, a few at a time, and what its verdicts block."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pytest_flaggems_import.core.settings import Settings
from pytest_flaggems_import.plugin.outcomes import Block
from pytest_flaggems_import.plugin.records import OpRecord

MAX_AT_ONCE = 8  # operators checked at once (each check is two processes, one after the other)


def gate_blocks(chosen: Iterable[OpRecord], your: Mapping[str, Any], device: str, settings: Settings) -> dict[str, Block]:
    """Run the gate on each of ``chosen`` (operators about to be selected); record each verdict on
    its record; the blocks for those it finds wrong. Candidate code runs only in the gate's own
    fresh processes, never here, confined as the workers are (scratch ``HOME``, memory, sandbox)."""
    from pytest_flaggems_import.runner import gate
    from pytest_flaggems_import.runner.confine import Confinement

    records = list(chosen)
    confinement = Confinement(sandbox=settings.sandbox == "bwrap", max_memory=settings.max_memory)

    def check(record: OpRecord) -> dict:
        configs = [(list(c.shape), c.dtype) for c in your.get(record.op, ())]
        return gate.check(Path(record.path), device, configs, settings.timeout, confinement)

    with ThreadPoolExecutor(max_workers=max(1, min(MAX_AT_ONCE, (os.cpu_count() or 2) // 2))) as pool:
        verdicts = list(pool.map(check, records))
    blocks = {}
    for record, verdict in zip(records, verdicts, strict=True):
        record.gate = verdict
        why = gate.finding(verdict)
        if why is not None:
            blocks[record.op] = Block(f"{why} (--flaggems-gate=off)", failed=True)
    return blocks
