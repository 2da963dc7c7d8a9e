"""Proof that the candidate computed its result itself (SPEC 8, "the candidate's own kernel").

Two checks here; both run in the worker, around every call of the entry function that a test
makes, and both report to the plugin rather than raise inside the call (a test could catch and
swallow an exception raised there):

- **Own kernel**: ``guard.count_launches(own_source)`` counts only kernels compiled from the
  candidate's ``code``: FlagGems' kernels (which a test's ``use_gems()`` may run) and other
  operators' kernels do not prove anything about this one.
- **No fallback**: while the entry runs, a ``TorchDispatchMode`` records ATen calls; calling the
  very op the candidate replaces (``aten::relu`` for relu, also ``relu_`` and ``relu.out``) is a
  fallback, whatever Triton kernel ran beside it. Allocation, view, copy and every other op are
  allowed (a candidate may use ``torch.empty_like``, ``.contiguous()``, ``x.view(-1)``).
  ``--flaggems-allow-fallback`` turns this off.

Benchmarks call the unguarded entry (``unguarded``): a dispatch mode would add host time.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from pytest_flaggems_import.core.names import OpName
from pytest_flaggems_import.errors import CandidateError


class Fallback(CandidateError):
    """The entry produced its result with the ATen op it claims to replace."""


_SEEN: list[str] = []  # fallbacks recorded since the last ``take_fallbacks()``
_DEPTH = [0]  # nesting of guarded calls: only the outermost records


def replaced_ops(name: OpName) -> frozenset[str]:
    """The ATen schema names that are the operator itself: ``aten::relu`` and ``aten::relu_``
    (also for ``relu_v2``: the seed names versions of one operator apart that way)."""
    base = re.sub(r"_v\d+\Z", "", name.base).rstrip("_")
    return frozenset({f"{name.namespace}::{base}", f"{name.namespace}::{base}_"})


def guarded(entry: Callable[..., Any], name: OpName) -> Callable[..., Any]:
    """``entry``, recording calls of its own ATen op while it runs (see module docstring)."""
    replaced = replaced_ops(name)

    @functools.wraps(entry)
    def call(*args: Any, **kwargs: Any) -> Any:
        if _DEPTH[0]:
            return entry(*args, **kwargs)
        recorder = _recorder(replaced)
        _DEPTH[0] += 1
        try:
            with recorder:
                return entry(*args, **kwargs)
        finally:
            _DEPTH[0] -= 1
            _SEEN.extend(s for s in recorder.seen if s not in _SEEN)

    call.__flaggems_unguarded__ = entry  # type: ignore[attr-defined]
    return call


def unguarded(entry: Callable[..., Any]) -> Callable[..., Any]:
    return getattr(entry, "__flaggems_unguarded__", entry)


def take_fallbacks() -> list[str]:
    """The fallbacks recorded since the last call, and forget them."""
    found = list(_SEEN)
    _SEEN.clear()
    return found


def _recorder(replaced: frozenset[str]) -> Any:
    from torch.utils._python_dispatch import TorchDispatchMode

    class RecordFallback(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            schema = func._schema.name
            if schema in replaced and schema not in self.seen:
                self.seen.append(schema)
            return func(*args, **(kwargs or {}))

    return RecordFallback()
