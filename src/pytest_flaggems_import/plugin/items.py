"""Collection: an operator JSON file is a pytest ``Module`` whose source is ``test_func``.

``OperatorFile`` subclasses ``pytest.Module`` so that pytest itself finds the tests in
``test_func`` (parametrize ids, marks, fixtures, assertion rewriting all behave as in any test
module); before them it yields a ``load`` item for the operator's code. Outcomes travel to the
session as ``user_properties`` (``plugin.props``) so they survive pytest-xdist's report
serialisation (STYLE §2).
"""

from __future__ import annotations

import ast
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _pytest.assertion.rewrite import rewrite_asserts

from pytest_flaggems_import.core import formats
from pytest_flaggems_import.core.categories import infer_category
from pytest_flaggems_import.errors import FlaggemsError, InputError, InputErrors
from pytest_flaggems_import.plugin import props
from pytest_flaggems_import.plugin.failures import first_line
from pytest_flaggems_import.plugin.props import ItemKind


class OperatorProblem(FlaggemsError):
    """A problem of the operator under test, shown as a few plain lines (no plugin traceback)."""


@dataclass
class Loaded:
    """What loading one operator file produced; shared by its items through the stash."""

    spec: formats.OperatorSpec | None = None
    category: str = "pointwise"
    module: types.ModuleType | None = None
    error: str | None = None  # one line: why the operator cannot run
    modules: dict[str, types.ModuleType] = field(default_factory=dict)
    before: Any = None  # runner.hygiene.ProcessState before it loaded (isolation only)
    side_effects: list[str] = field(default_factory=list)  # runner.confine: files written, processes started
    routes: dict[str, Any] | None = None  # ATen keys use_gems() routes to the candidate (runner.dispatch)
    exported: dict[str, Any] = field(default_factory=dict)  # what flag_gems.experimental_ops gets from it
    items: int = 0  # how many items its file has in all (before -k, -m, node ids, --lf)
    looked_at: bool = False  # one of its tests failed with wrong results: its tests are not vacuous

    @property
    def op(self) -> str | None:
        return self.spec.op if self.spec else None


LOADED = pytest.StashKey[Loaded]()


class OperatorFile(pytest.Module):
    """One ``<op>.json``: a ``load`` item, then the tests pytest finds in ``test_func``."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        runner = self.config.pluginmanager.get_plugin("flaggems-runner")
        with runner.loading(self.path) as verdict:
            loaded = self._load(runner, verdict)
            self.stash[LOADED] = loaded
            nodes = [LoadItem.from_parent(self, name="load"), *self._operator_nodes(runner, loaded)]
        runner.after_loading(self.path, loaded)
        if loaded.spec is not None:
            for mark in runner.session.marks_for(loaded.spec, loaded.category):
                self.add_marker(mark)
        if runner.isolated:
            check = IsolationItem.from_parent(self, name="isolation")
            if self.config.pluginmanager.hasplugin("timeout"):
                check.add_marker(pytest.mark.timeout(0))  # no pytest-timeout timer thread to mistake for a leftover
            nodes.append(check)
        loaded.items = count_items(nodes)
        yield from nodes

    def _operator_nodes(self, runner: Any, loaded: Loaded) -> list[pytest.Item | pytest.Collector]:
        if loaded.error is not None or loaded.spec is None or not loaded.spec.test_func:
            return list(self._not_run(loaded))
        try:
            with runner.operator_context(loaded), runner.candidate_time():
                nodes = list(super().collect())
        except BaseException as exc:  # noqa: BLE001 - SystemExit, pytest.exit() too: it fails alone
            loaded.error = f"test_func does not import: {first_line(exc)}"
            return [BrokenTestsItem.from_parent(self, name="tests")]
        if runner.settings.bench:
            nodes += runner.bench_items(self, loaded)
        return nodes

    def _load(self, runner: Any, verdict: str | None) -> Loaded:
        try:
            spec = formats.load_operator(self.path)
        except (InputError, InputErrors) as exc:
            return Loaded(error=f"invalid operator file: {exc}")
        category = spec.category or infer_category(spec.name, spec.code)
        loaded = Loaded(spec=spec, category=category)
        if verdict is not None:
            loaded.error = f"code does not load: {verdict}"  # a worker died loading it: not run again
            return loaded
        try:
            loaded.module, loaded.modules = runner.load_candidate(spec, category, loaded.side_effects)
        except BaseException as exc:  # noqa: BLE001 - whatever the candidate raises is its failure
            loaded.error = f"code does not load: {first_line(exc)}"
        return loaded

    def _not_run(self, loaded: Loaded) -> Iterator[pytest.Item]:
        """Placeholders for the tests of an operator that did not load: skipped, not noise."""
        if loaded.spec is None or not loaded.spec.test_func:
            return
        for name in test_names(loaded.spec.test_func):
            yield NotRunItem.from_parent(self, name=name)

    def _getobj(self) -> types.ModuleType:
        """The test module, built from ``test_func`` with pytest's assertion rewriting."""
        loaded = self.stash[LOADED]
        spec = loaded.spec
        assert spec is not None and spec.test_func
        from pytest_flaggems_import.runner.isolate import HELPERS, register_source, source_name

        filename = source_name(spec, "test_func")
        tree = ast.parse(spec.test_func, filename)
        rewrite_asserts(tree, spec.test_func.encode(), filename, self.config)
        module = types.ModuleType(f"flaggems_test_{spec.entry}")
        module.__file__ = str(spec.path)  # FlagGems-style tests compute paths from __file__
        if HELPERS in loaded.modules:  # it imports relatively (runner.isolate.test_helpers, at load)
            module.__package__ = HELPERS  # `from . import accuracy_utils as utils`
        register_source(spec.test_func, filename)
        exec(compile(tree, filename, "exec", dont_inherit=True), module.__dict__)
        self.config.pluginmanager.consider_module(module)
        return module

    def reportinfo(self) -> tuple[Path, int, str]:
        loaded = self.stash.get(LOADED, None)
        name = loaded.spec.name.qualified if loaded and loaded.spec else self.path.name
        return self.path, 0, f"operator {name}"


def count_items(nodes: Iterable[pytest.Item | pytest.Collector]) -> int:
    """Leaf items under ``nodes``; a test class counts its methods (collected again, cheaply)."""
    total = 0
    for node in nodes:
        if isinstance(node, pytest.Item):
            total += 1
        elif isinstance(node, pytest.Collector):
            total += count_items(node.collect())
    return total


def item_kind(item: pytest.Item) -> ItemKind:
    if isinstance(item, _OperatorItem):
        return item.kind
    return ItemKind.BENCH if item.get_closest_marker("flaggems_bench") else ItemKind.TEST


def test_names(source: str) -> list[str]:
    """Top-level ``test*`` functions of a test source, without running it."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test")
    ]


class _OperatorItem(pytest.Item):
    """Base of our own items: short failures, location at the operator file."""

    kind = ItemKind.LOAD

    @property
    def loaded(self) -> Loaded:
        return self.parent.stash[LOADED]

    def fail_with(self, reason: str) -> None:
        """Fail with ``reason``, which also travels to the session as a property of the report."""
        props.put(self, props.ERROR, reason)
        raise OperatorProblem(f"{self.path.name}: {reason}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, OperatorProblem):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.loaded.op or self.path.name}::{self.name}"


class LoadItem(_OperatorItem):
    """Passes when the operator's code loaded and defines its entry function."""

    def runtest(self) -> None:
        if self.loaded.error is not None:
            self.fail_with(self.loaded.error)


class BrokenTestsItem(_OperatorItem):
    """``test_func`` itself failed to import: one failure instead of a collection error."""

    kind = ItemKind.TEST_IMPORT

    def runtest(self) -> None:
        self.fail_with(self.loaded.error or "test_func does not import")


class IsolationItem(_OperatorItem):
    """Runs last for its operator: fails when the operator left the process unclean (a thread
    still running, a signal handler replaced, a broken CUDA context: runner.hygiene) or acted
    outside its scratch folder (a file written, a process started: runner.confine). The worker
    is then retired, so the next operator starts in a fresh one."""

    kind = ItemKind.ISOLATION

    def runtest(self) -> None:
        runner = self.config.pluginmanager.get_plugin("flaggems-runner")
        found = runner.unclean(self.loaded)
        if found:
            runner.retire_after(self)
            self.fail_with("; ".join(found))


class NotRunItem(_OperatorItem):
    kind = ItemKind.TEST

    def runtest(self) -> None:
        pytest.skip(f"not run: {self.loaded.error}")
