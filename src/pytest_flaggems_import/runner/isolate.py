"""Load one operator's code as its own module and make FlagGems' import paths resolve to it.

``test_func`` imports the candidate from ``flag_gems.experimental.generated.<category>.<op>`` (the
seed's path) or ``flag_gems.experimental_ops.<op>`` (FlagGems' own layout). ``candidate_modules``
registers the candidate under both names, plus any missing parent package, for as long as the
operator runs, and then puts ``sys.modules``, the parents' attributes and ``sys.path`` back, so
nothing of one operator is visible to the next while the real ``flag_gems`` keeps working.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.util
import linecache
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pytest_flaggems_import.core.formats import OperatorSpec

STANDINS = Path(__file__).parent / "standins"
EXPERIMENTAL_OPS = "flag_gems.experimental_ops"
_MISSING = object()


@dataclass(frozen=True)
class FlagGemsRuntime:
    """Which ``flag_gems`` operators see: the installed one, or our stand-in (and why)."""

    module: types.ModuleType
    standin: bool
    why: str = ""

    @property
    def label(self) -> str:
        if self.standin:
            return f"stand-in ({self.why})"
        return f"flag_gems {getattr(self.module, '__version__', '?')}"


@functools.cache
def flag_gems_runtime() -> FlagGemsRuntime:
    """Import the real ``flag_gems`` once; fall back to the stand-in if it cannot load here."""
    try:
        import flag_gems
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable here"
        for name in [n for n in sys.modules if n == "flag_gems" or n.startswith("flag_gems.")]:
            del sys.modules[name]
        why = (
            "not installed"
            if isinstance(exc, ModuleNotFoundError) and exc.name == "flag_gems"
            else (f"import failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        )
        return FlagGemsRuntime(_import_standin(), True, why)
    return FlagGemsRuntime(flag_gems, getattr(flag_gems, "STANDIN", False))


def _import_standin() -> types.ModuleType:
    sys.path.insert(0, str(STANDINS))
    try:
        return importlib.import_module("flag_gems")
    finally:
        sys.path.remove(str(STANDINS))


def module_names(entry: str, category: str) -> tuple[str, str]:
    """The two import paths a test may use for the candidate (SPEC §2)."""
    return (f"flag_gems.experimental.generated.{category}.{entry}", f"flag_gems.experimental_ops.{entry}")


def source_name(spec: OperatorSpec, field: str) -> str:
    """A file name for tracebacks: points at the operator file and the JSON key."""
    return f"{spec.path}::{field}"


def register_source(source: str, filename: str) -> None:
    """Let ``linecache`` (and so tracebacks) show the candidate's own lines."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def load_code(spec: OperatorSpec, category: str) -> types.ModuleType:
    """Execute ``spec.code`` as a fresh module named by its seed path; raise whatever it raises."""
    name = module_names(spec.entry, category)[0]
    module = types.ModuleType(name)
    module.__file__ = source_name(spec, "code")
    register_source(spec.code, module.__file__)
    code = compile(spec.code, module.__file__, "exec", dont_inherit=True)
    with candidate_modules({name: module}):
        exec(code, module.__dict__)
    return module


def entry_name(module: types.ModuleType, spec: OperatorSpec) -> str:
    """The function that is the operator: ``spec.entry`` (``gelu``, ``add_Tensor``), or, for an
    op named without its overload whose code defines one function per overload (FlagGems'
    ``multiply.py``: ``multiply_Tensor``, ``multiply_Scalar``, ``multiply_out``), the first of
    those in the order ATen lists the overloads; else the first function the code's ``__all__``
    names. ``LookupError`` when there is none: the operator still loads and its tests decide; only
    what needs the entry (the proof's guard, benchmarks) goes without it."""
    if callable(getattr(module, spec.entry, None)):
        return spec.entry
    candidates = [f"{spec.entry}_{overload}" for overload in _overloads(spec)] if spec.name.overload is None else []
    exported = getattr(module, "__all__", None)
    candidates += [n for n in exported if isinstance(n, str)] if isinstance(exported, (list, tuple)) else []
    for name in candidates:
        if callable(getattr(module, name, None)):
            return name
    tried = ", ".join(repr(n) for n in [spec.entry, *candidates[:4]]) + (", ..." if len(candidates) > 4 else "")
    raise LookupError(f"the code defines no function for {spec.name.qualified} (looked for {tried}, and __all__)")


def _overloads(spec: OperatorSpec) -> list[str]:
    try:
        import torch

        packet = getattr(getattr(torch.ops, spec.name.namespace), spec.name.base)
        return [o for o in packet.overloads() if o != "default"]
    except (AttributeError, RuntimeError):
        return []


def entry_function(module: types.ModuleType, spec: OperatorSpec) -> object:
    return getattr(module, entry_name(module, spec))


def exports(module: types.ModuleType, spec: OperatorSpec) -> dict[str, object]:
    """What FlagGems' ``experimental_ops/__init__.py`` imports from an operator's module: its
    entry and its per-overload functions (``from .rmsnorm import rmsnorm``; ``from .multiply import
    multiply_Tensor, ...``). So ``flag_gems.experimental_ops.rmsnorm`` is the function there."""
    base = spec.entry
    return {
        name: value
        for name, value in vars(module).items()
        if (name == base or name.startswith(base + "_")) and callable(value) and not isinstance(value, type)
        and getattr(value, "__module__", module.__name__) == module.__name__
    }


HELPERS = "tests"  # FlagGems' test helper package: ``from . import accuracy_utils as utils`` in tests/


def uses_relative_imports(source: str) -> bool:
    """Whether a test source imports relatively, as FlagGems' own tests/test_<op>.py do."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    return any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))


def test_helpers(root: Path | None) -> dict[str, types.ModuleType]:
    """FlagGems' ``tests`` package with its ``accuracy_utils`` (and what that imports): the
    checkout's (``root/tests``) when it has one, else the stand-in. Imported once here; registered
    (``candidate_modules``) only while the operator runs, like the operator's own modules."""
    has_helpers = root is not None and (root / HELPERS / "accuracy_utils.py").is_file()
    folder = root / HELPERS if root is not None and has_helpers else STANDINS / HELPERS
    ours = [n for n in sys.modules if n == HELPERS or n.startswith(HELPERS + ".")]
    saved = {n: sys.modules.pop(n) for n in ours}
    try:
        init = folder / "__init__.py"
        if init.is_file():
            spec = importlib.util.spec_from_file_location(HELPERS, init, submodule_search_locations=[str(folder)])
            assert spec is not None and spec.loader is not None
            package = importlib.util.module_from_spec(spec)
            sys.modules[HELPERS] = package
            spec.loader.exec_module(package)
        else:  # a namespace folder
            package = types.ModuleType(HELPERS)
            package.__path__ = [str(folder)]
            sys.modules[HELPERS] = package
        importlib.import_module(f"{HELPERS}.accuracy_utils")
        return {n: m for n, m in sys.modules.items() if n == HELPERS or n.startswith(HELPERS + ".")}
    finally:
        for name in [n for n in sys.modules if n == HELPERS or n.startswith(HELPERS + ".")]:
            del sys.modules[name]
        sys.modules.update(saved)


def aliases(module: types.ModuleType, spec: OperatorSpec, category: str) -> dict[str, types.ModuleType]:
    return dict.fromkeys(module_names(spec.entry, category), module)


class _Registry:
    """Changes to ``sys.modules`` and package attributes, recorded so they can be undone."""

    def __init__(self) -> None:
        self.modules: dict[str, object] = {}
        self.attrs: list[tuple[types.ModuleType, str, object]] = []

    def put(self, name: str, module: types.ModuleType) -> None:
        parent_name, _, leaf = name.rpartition(".")
        self.modules.setdefault(name, sys.modules.get(name, _MISSING))
        sys.modules[name] = module
        if parent_name:
            parent = self.package(parent_name)
            self.attrs.append((parent, leaf, parent.__dict__.get(leaf, _MISSING)))
            setattr(parent, leaf, module)

    def package(self, name: str) -> types.ModuleType:
        """The package ``name``: the real one if it imports, else an empty one made for this run."""
        if name in sys.modules:
            return sys.modules[name]  # type: ignore[return-value]
        try:
            return importlib.import_module(name)
        except ImportError:
            package = types.ModuleType(name)
            package.__path__ = []  # only what we register lives in it
            self.put(name, package)
            return package

    def export(self, package: types.ModuleType, attributes: dict[str, object]) -> None:
        for name, value in attributes.items():
            self.attrs.append((package, name, package.__dict__.get(name, _MISSING)))
            setattr(package, name, value)

    def undo(self) -> None:
        for parent, leaf, old in reversed(self.attrs):
            if old is _MISSING:
                parent.__dict__.pop(leaf, None)
            else:
                setattr(parent, leaf, old)
        for name, old in self.modules.items():
            if old is _MISSING:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old  # type: ignore[assignment]


@contextlib.contextmanager
def candidate_modules(
    modules: dict[str, types.ModuleType], exported: dict[str, object] | None = None
) -> Iterator[None]:
    """Register ``modules`` (dotted names) and their parents, and ``exported`` as attributes of
    ``flag_gems.experimental_ops`` (as FlagGems' package does); restore everything on exit."""
    flag_gems_runtime()
    saved_path = list(sys.path)
    registry = _Registry()
    try:
        for name, module in modules.items():
            registry.put(name, module)
        if exported and EXPERIMENTAL_OPS in sys.modules:
            registry.export(sys.modules[EXPERIMENTAL_OPS], exported)  # type: ignore[arg-type]
        yield
    finally:
        registry.undo()
        sys.path[:] = saved_path  # FlagGems-style tests insert "../.." into sys.path
