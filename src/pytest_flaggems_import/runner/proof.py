"""Proof that the candidate computed its result itself (SPEC 8, "the candidate's own kernel").

These checks run in the worker, around every call of the entry function that a test makes, and
report to the plugin (``take_findings``) rather than raise inside the call (a test could catch and
swallow an exception raised there):

- **Own kernel**: ``guard.count_launches(own_source)`` counts only kernels compiled from the
  candidate's ``code``: FlagGems' kernels (which a test's ``use_gems()`` may run) and other
  operators' kernels do not prove anything about this one.
- **No fallback**: while the entry runs, a ``TorchDispatchMode`` records ATen calls; calling the
  very op the candidate replaces (``aten::relu`` for relu, also ``relu_`` and ``relu.out``) is a
  fallback, whatever Triton kernel ran beside it. Allocation, view, copy and every other op are
  allowed (a candidate may use ``torch.empty_like``, ``.contiguous()``, ``x.view(-1)``).
  ``--flaggems-allow-fallback`` turns this off.
- **Argument contract** (``ArgumentContract``, from the ATen schema): an argument the op does not
  write (``Tensor self``, not ``Tensor(a!)``) must be bit-identical after the call (a cheater that
  zeroes its input and returns it); a result must not share memory with an argument unless the
  op returns an alias (views, in-place, ``out=``); an in-place op must return its first argument.
  ``--flaggems-allow-mutation`` turns this off.

Benchmarks call the unguarded entry (``unguarded``): a dispatch mode would add host time.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pytest_flaggems_import.core.names import OpName
from pytest_flaggems_import.errors import CandidateError
from pytest_flaggems_import.runner.dispatch import unrouted, unrouted_now


class Fallback(CandidateError):
    """The entry produced its result with the ATen op it claims to replace."""


class BrokenContract(CandidateError):
    """The entry changed an input it must not change, returned memory of an input, or (in place)
    did not return the argument it works on."""


@dataclass
class Findings:
    fallbacks: list[str] = field(default_factory=list)  # ATen ops, in the order first seen
    contract: list[str] = field(default_factory=list)  # one phrase each
    ghost: list[bool] = field(default_factory=list)  # ghost replays: did the result depend on its kernels?

    def add(self, where: list[str], found: str) -> None:
        if found not in where:
            where.append(found)


_FOUND = Findings()  # since the last ``take_findings()``
_DEPTH = [0]  # nesting of guarded calls: only the outermost records
_POISON = [False]  # inside poisoned(): every result is made wrong (the vacuity check)


@dataclass(frozen=True)
class ArgumentContract:
    """From the ATen schema: which arguments the op may write, and whether its result may alias
    an argument (a view op, an in-place or out= op). An op without an ATen schema: writes nothing,
    returns fresh memory (an in-place name, ``relu_``, writes and returns its first argument)."""

    writable: frozenset[str | int] = frozenset()
    may_alias: bool = False
    in_place: bool = False

    @classmethod
    def of(cls, name: OpName) -> ArgumentContract:
        schema = _schema(name)
        if schema is None:
            in_place = name.base.endswith("_") and not name.base.endswith("__")
            return cls(frozenset({0}) if in_place else frozenset(), in_place, in_place)
        writable: set[str | int] = set()
        for i, argument in enumerate(schema.arguments):
            if argument.alias_info is not None and argument.alias_info.is_write:
                writable |= {argument.name} if argument.kwarg_only else {i, argument.name}
        may_alias = any(r.alias_info is not None for r in schema.returns)
        first = schema.arguments[0] if schema.arguments else None
        in_place = bool(first is not None and 0 in writable and not first.kwarg_only and may_alias)
        return cls(frozenset(writable), may_alias, in_place)


def _schema(name: OpName) -> Any:
    import torch

    packet = getattr(getattr(torch.ops, name.namespace, None), name.base, None)
    try:
        return getattr(packet, name.overload or "default")._schema if packet is not None else None
    except AttributeError:
        return None


def replaced_ops(name: OpName) -> frozenset[str]:
    """The ATen schema names that are the operator itself: ``aten::relu`` and ``aten::relu_``
    (also for ``relu_v2``: the seed names versions of one operator apart that way)."""
    base = name.versionless().base.rstrip("_")
    return frozenset({f"{name.namespace}::{base}", f"{name.namespace}::{base}_"})


def guarded(entry: Callable[..., Any], name: OpName, own_source: str | None = None) -> Callable[..., Any]:
    """``entry``, recording calls of its own ATen op while it runs, checking its argument
    contract, and replaying its first call of each test without its kernels (module docstring)."""
    replaced = replaced_ops(name)
    contract = ArgumentContract.of(name.versionless())
    cache_checked: list[bool] = []

    def checked(*args: Any, **kwargs: Any) -> Any:
        # The checks' own tensor work (copies, comparisons) runs unrouted: a candidate for
        # aten::copy_ would otherwise be called by the clone that guards it, without end.
        with unrouted():
            kept = _read_only_copies(args, kwargs, contract)
        recorder = _recorder(replaced)
        try:
            with recorder:
                result = entry(*args, **kwargs)
        finally:
            for op in recorder.seen:
                _FOUND.add(_FOUND.fallbacks, op)
        with unrouted():
            for problem in _broken(args, kwargs, kept, result, contract):
                _FOUND.add(_FOUND.contract, problem)
        if own_source is not None and not contract.writable and not _FOUND.ghost:
            depends = _depends_on_kernels(entry, args, kwargs, result, own_source)
            if depends is not None:
                _FOUND.ghost.append(depends)
        if not contract.writable and not cache_checked:
            cache_checked.append(True)  # once per operator: three more calls
            if _stale_for_new_data(entry, args, kwargs):
                _FOUND.add(_FOUND.contract, "returns its earlier result for new data in the same input buffers (a cache)")
        return result

    @functools.wraps(entry)
    def call(*args: Any, **kwargs: Any) -> Any:
        if _POISON[0] and not _DEPTH[0]:
            return _poisoned(entry(*args, **kwargs))
        if _DEPTH[0]:
            return entry(*args, **kwargs)
        _DEPTH[0] += 1
        try:
            return checked(*args, **kwargs)
        finally:
            _DEPTH[0] -= 1

    call.__flaggems_unguarded__ = entry  # type: ignore[attr-defined]
    return call


def _depends_on_kernels(entry: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], result: Any,
                        own_source: str) -> bool | None:  # fmt: skip
    """Ghost replay: call ``entry`` again on copies of its inputs with its own kernels turned into
    no-ops and every fresh ``torch.empty*`` filled with poison (NaN, or an odd integer). A result
    computed by its kernels comes out different; one computed some other way (torch, a cache)
    comes out the same. None when there is nothing to compare (no tensor, or an empty one)."""
    import torch
    from torch.utils._pytree import tree_flatten, tree_map

    real = [r for r in tree_flatten(result)[0] if isinstance(r, torch.Tensor)]
    if not real or all(r.numel() == 0 for r in real):
        return None
    with unrouted():
        copies = tree_map(lambda v: v.detach().clone() if isinstance(v, torch.Tensor) else v, (args, kwargs))
    try:
        with _kernels_skipped(own_source), _poisoned_allocations():
            ghost_result = entry(*copies[0], **copies[1])
    except Exception:  # noqa: BLE001 - it could not produce a result without its kernels
        return True
    ghost = [r for r in tree_flatten(ghost_result)[0] if isinstance(r, torch.Tensor)]
    if len(ghost) != len(real):
        return True
    with unrouted():
        return not all(_same_bits(r, g) for r, g in zip(real, ghost, strict=True))


@contextlib.contextmanager
def poisoned() -> Iterator[None]:
    """For the block, the entry's results (and, for in-place ops, what it wrote) are made wrong:
    a test that still passes never looked at them (a vacuous test)."""
    _POISON[0] = True
    try:
        yield
    finally:
        _POISON[0] = False


def _poisoned(result: Any) -> Any:
    import torch
    from torch.utils._pytree import tree_flatten

    with unrouted(), torch.no_grad():
        for t in tree_flatten(result)[0]:
            if isinstance(t, torch.Tensor) and t.numel():
                if t.dtype == torch.bool:
                    t.logical_not_()
                else:
                    t.add_(1)  # in place: an in-place op's argument is its result
    return result


def _stale_for_new_data(entry: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether the entry, called again after new data was written into the very buffers of its
    earlier call, returns the earlier result, where fresh buffers holding that new data give a
    different one: a cache keyed on the inputs' identity or address (KernelBench's result reuse)."""
    import torch
    from torch.utils._pytree import tree_flatten, tree_map

    def tensors(value: Any) -> list[Any]:
        return [t.detach().clone() for t in tree_flatten(value)[0] if isinstance(t, torch.Tensor)]

    with unrouted():
        buffers = tree_map(lambda v: v.detach().clone() if isinstance(v, torch.Tensor) else v, (args, kwargs))
        inputs = [t for t in tree_flatten(buffers)[0] if isinstance(t, torch.Tensor)]
        if not inputs or all(t.numel() == 0 for t in inputs):
            return False
    try:
        first = tensors(entry(*buffers[0], **buffers[1]))
        with unrouted():
            for t in inputs:
                t.copy_(_other_values(t))
            fresh = tree_map(lambda v: v.clone() if isinstance(v, torch.Tensor) else v, buffers)
        again = tensors(entry(*buffers[0], **buffers[1]))
        expected = tensors(entry(*fresh[0], **fresh[1]))
    except Exception:  # noqa: BLE001 - it cannot take these inputs: the tests' verdict stands
        return False
    with unrouted():
        if len(first) != len(again) or len(again) != len(expected):
            return False
        stale = all(_same_bits(a, b) for a, b in zip(again, first, strict=True))
        changed = not all(_same_bits(a, b) for a, b in zip(expected, first, strict=True))
    return stale and changed


def _other_values(t: Any) -> Any:
    """New values for a tensor: what it held, shifted (floats) or incremented (integers, bools flipped)."""
    import torch

    if t.dtype == torch.bool:
        return ~t
    if t.is_floating_point() or t.is_complex():
        return t * 0.5 + 0.25
    return t + 1


def _kernels_skipped(own_source: str) -> Any:
    from pytest_flaggems_import.runner import guard

    def skipping(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            if guard.kernel_source(self) == own_source and not kwargs.get("warmup", False):
                return None
            return original(self, *args, **kwargs)

        return run

    return guard.patched_launches(skipping)


def _poisoned_allocations() -> Any:
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    allocations = {aten.empty, aten.empty_like, aten.empty_strided, aten.new_empty, aten.new_empty_strided}

    class Poison(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func.overloadpacket in allocations and isinstance(out, torch.Tensor) and out.numel():
                if out.dtype.is_floating_point or out.dtype.is_complex:
                    out.fill_(float("nan"))
                elif out.dtype == torch.bool:
                    out.fill_(True)
                else:
                    out.fill_(torch.iinfo(out.dtype).min + 77)
            return out

    return Poison()


def unguarded(entry: Callable[..., Any]) -> Callable[..., Any]:
    return getattr(entry, "__flaggems_unguarded__", entry)


def take_findings() -> Findings:
    """What guarded calls found since the last call, and forget it."""
    global _FOUND
    found, _FOUND = _FOUND, Findings()
    return found


def _tensors(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str | int, Any]]:
    import torch

    named: list[tuple[str | int, Any]] = [(i, a) for i, a in enumerate(args)] + list(kwargs.items())
    return [(key, value) for key, value in named if isinstance(value, torch.Tensor)]


def _read_only_copies(
    args: tuple[Any, ...], kwargs: dict[str, Any], contract: ArgumentContract
) -> dict[str | int, Any]:
    return {key: t.detach().clone() for key, t in _tensors(args, kwargs) if key not in contract.writable}


def _broken(args: tuple[Any, ...], kwargs: dict[str, Any], kept: dict[str | int, Any], result: Any,
            contract: ArgumentContract) -> list[str]:  # fmt: skip
    import torch

    found = []
    tensors = dict(_tensors(args, kwargs))
    for key, copy in kept.items():
        if not _same_bits(tensors[key], copy):
            found.append(f"changes its input {_label(key)}, which the op must leave as it was")
    results = [r for r in (result if isinstance(result, (tuple, list)) else (result,)) if isinstance(r, torch.Tensor)]
    if not contract.may_alias:
        for r in results:
            for key, t in tensors.items():
                if r.numel() and t.numel() and r.untyped_storage().data_ptr() == t.untyped_storage().data_ptr():
                    found.append(f"returns the memory of its input {_label(key)} (the op returns a new tensor)")
    if contract.in_place and args and isinstance(args[0], torch.Tensor):
        same = results and results[0].untyped_storage().data_ptr() == args[0].untyped_storage().data_ptr()
        if not same:
            found.append("works in place but does not return its first argument")
    return found


def _same_bits(a: Any, b: Any) -> bool:
    """Bit for bit (NaN equals NaN), whatever the dtype."""
    import torch

    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return torch.equal(
        a.detach().reshape(-1).contiguous().view(torch.uint8), b.reshape(-1).contiguous().view(torch.uint8)
    )


def _label(key: str | int) -> str:
    return f"#{key}" if isinstance(key, int) else repr(key)


def _recorder(replaced: frozenset[str]) -> Any:
    from torch.utils._python_dispatch import TorchDispatchMode

    class RecordFallback(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            schema = func._schema.name
            if schema in replaced and schema not in self.seen and not unrouted_now():
                self.seen.append(schema)
            return func(*args, **(kwargs or {}))

    return RecordFallback()
