"""Dispatch-style tests exercise the candidate (SPEC 8): inside ``flag_gems.use_gems()``, the
operator's own ATen keys run the candidate.

FlagGems' tests call an op the way users do: ``with flag_gems.use_gems(): torch.ops.aten.sigmoid(x)``.
Left alone, that runs FlagGems' own sigmoid (or, with the stand-in, torch's), never the candidate.
While an operator runs, ``routing`` replaces ``flag_gems.use_gems`` with a context manager that
enters the original (every other op keeps FlagGems' implementation) and then registers the
candidate for its own keys through ``torch.library`` on the device's dispatch key, overriding
FlagGems' registration for those keys only; leaving it removes ours, and FlagGems' comes back.

The keys: the op's overload (``sigmoid`` → ``aten::sigmoid``, ``add.Tensor`` → ``aten::add.Tensor``)
runs the entry; any other overload ``o`` of the same op runs a function ``<base>_<o>`` of the
candidate's code when there is one (``sigmoid_out`` → ``aten::sigmoid.out``).

The proof's own tensor work (copying inputs, comparing results) and Triton's launches (the CPU
interpreter copies results back with ``aten::copy_``) run ``unrouted()``: there the keys run the
kernel they ran before (FlagGems' or ATen's, from ``torch.library.get_kernel``), so a candidate
``copy_`` is never called by its own guard's ``clone`` or by the launch of its own kernel.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any

from pytest_flaggems_import.core.formats import OperatorSpec

_UNROUTED = [0]  # > 0 inside unrouted()


@contextlib.contextmanager
def unrouted() -> Iterator[None]:
    """For the block, routed keys run what they ran before routing (where torch can say what)."""
    _UNROUTED[0] += 1
    try:
        yield
    finally:
        _UNROUTED[0] -= 1


def unrouted_now() -> bool:
    """Whether ATen calls made now come from the checks or from Triton, not from candidate code."""
    return _UNROUTED[0] > 0


def candidate_keys(module: types.ModuleType, spec: OperatorSpec) -> dict[str, Callable[..., Any]]:
    """``{"sigmoid": entry, "sigmoid.out": sigmoid_out}``: the ATen keys the candidate implements."""
    import torch

    name = spec.name
    packet = getattr(getattr(torch.ops, name.namespace, None), name.base, None)
    if packet is None:
        return {}
    own = name.overload or "default"
    keys: dict[str, Callable[..., Any]] = {}
    for overload in packet.overloads():
        function = getattr(module, spec.entry if overload == own else f"{name.base}_{overload}", None)
        if callable(function) and (overload == own or overload != "default"):
            keys[name.base if overload == "default" else f"{name.base}.{overload}"] = function
    return keys


@contextlib.contextmanager
def routing(flag_gems: types.ModuleType, keys: dict[str, Callable[..., Any]], device: str) -> Iterator[None]:
    """For the block: ``flag_gems.use_gems()`` also routes ``keys`` to the candidate."""
    original = getattr(flag_gems, "use_gems", None)
    if original is None or not keys:
        yield
        return

    @contextlib.contextmanager
    def use_gems(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with original(*args, **kwargs) as value, _registered(keys, device):
            yield value

    functools.update_wrapper(use_gems, original)
    flag_gems.use_gems = use_gems  # type: ignore[attr-defined]
    try:
        yield
    finally:
        flag_gems.use_gems = original  # type: ignore[attr-defined]


@contextlib.contextmanager
def _registered(keys: dict[str, Callable[..., Any]], device: str) -> Iterator[None]:
    import torch

    library = torch.library.Library("aten", "IMPL")
    dispatch_key = "CUDA" if device == "cuda" else "CPU"
    options = _impl_options(type(library))
    try:
        for key, function in keys.items():
            before = _kernel_before(key, dispatch_key) if options.get("with_keyset") else None
            library.impl(
                key, _kernel(function, before, device, options.get("with_keyset", False)), dispatch_key, **options
            )
        yield
    finally:
        library._destroy()


@functools.cache
def _impl_options(library: type) -> dict[str, bool]:
    """``allow_override`` (torch >= 2.8 asks for it to replace FlagGems' kernel) and ``with_keyset``."""
    parameters = inspect.signature(library.impl).parameters
    return {name: True for name in ("allow_override", "with_keyset") if name in parameters}


def _kernel_before(key: str, dispatch_key: str) -> Any:
    """The kernel ``key`` runs now on ``dispatch_key``, callable boxed; None where torch cannot say."""
    import torch

    get_kernel = getattr(torch.library, "get_kernel", None)
    if get_kernel is None:
        return None
    try:
        return get_kernel(f"aten::{key}", dispatch_key)
    except Exception:  # noqa: BLE001 - no kernel of its own there (a composite op): nothing to go back to
        return None


def _kernel(function: Callable[..., Any], before: Any, device: str, with_keyset: bool) -> Callable[..., Any]:
    from pytest_flaggems_import.runner.device import device_context

    def kernel(keyset: Any, *args: Any, **kwargs: Any) -> Any:
        if _UNROUTED[0] and before is not None:
            return before.call_boxed(keyset, *args, **kwargs)
        # A kernel runs below torch's function modes: on the CPU, the candidate again
        # sees CUDA-looking tensors (runner.device.emulate_cuda).
        with device_context(device):
            return function(*args, **kwargs)

    def without_keyset(*args: Any, **kwargs: Any) -> Any:
        return kernel(None, *args, **kwargs)

    return kernel if with_keyset else without_keyset
