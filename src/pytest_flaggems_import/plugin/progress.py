"""Progress of a long screening run, in pytest's own terminal output.

- ``-v`` and more: one line per operator as its last item reports (``[12/50] gelu: 13/13 tests
  passed, 4 benchmark configs``); at the default verbosity pytest's own progress stands, and
  ``-q`` adds nothing.
- Once benchmarks start (the first benchmark item reports), one line at the default verbosity
  or more: how many items are left and about how long they will take at the pace so far (wall
  time since the first report, per item finished). Operators not collected yet are assumed to
  have as many items as the average one collected: a rough figure, and said to be one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from pytest_flaggems_import.plugin import props
from pytest_flaggems_import.plugin.props import ItemKind

if TYPE_CHECKING:
    from pytest_flaggems_import.plugin.outcomes import Outcomes


class Progress:
    def __init__(self, config: pytest.Config, outcomes: Outcomes) -> None:
        self.config = config
        self.outcomes = outcomes
        self.done: set[str] = set()
        self.first_report: float | None = None
        self.estimated = False

    def after(self, report: pytest.TestReport) -> None:
        """Called for each report, after the outcomes took it in."""
        tag = props.ItemTag.from_json(props.read(report).get(props.ITEM))
        if tag is None:
            return
        now = time.perf_counter()
        self.first_report = self.first_report or now
        if tag.op not in self.done and self.outcomes.complete(tag.op):
            self.done.add(tag.op)
            self._write(self._operator_line(tag.op), verbosity=1)
        if tag.kind is ItemKind.BENCH and report.when == "call" and not self.estimated:
            self.estimated = True
            self._write(self.estimate(now), verbosity=0)

    def _operator_line(self, op: str) -> str:
        record = self.outcomes.records[op]
        bench = f", {len(record.bench)} benchmark configs" if record.bench else ""
        return f"flaggems [{len(self.done)}/{len(self.outcomes.records)}] {op}: {record.passed}/{record.ran} tests passed{bench}"

    def estimate(self, now: float) -> str:
        finished = sum(len(nodes) for nodes in self.outcomes.finished.values())
        known = list(self.outcomes.expected.values())
        unseen = len(self.outcomes.records) - len(known)
        total = sum(known) + (round(unseen * sum(known) / len(known)) if known else 0)
        left = max(total - finished, 0)
        elapsed = now - (self.first_report or now)
        pace = f", about {_duration(elapsed / finished * left)} left at the pace so far" if finished and elapsed else ""
        return f"flaggems: benchmarks started; {finished} of about {total} items done{pace}"

    def _write(self, line: str, *, verbosity: int) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self.config.get_verbosity() >= verbosity:
            reporter.write_line(line)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
