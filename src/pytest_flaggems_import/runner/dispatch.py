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
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any

from pytest_flaggems_import.core.formats import OperatorSpec


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

    from pytest_flaggems_import.runner.device import device_context

    library = torch.library.Library("aten", "IMPL")
    dispatch_key = "CUDA" if device == "cuda" else "CPU"
    override = {"allow_override": True} if "allow_override" in inspect.signature(library.impl).parameters else {}
    try:
        for key, function in keys.items():

            def kernel(*args: Any, _function: Callable[..., Any] = function, **kwargs: Any) -> Any:
                # A kernel runs below torch's function modes: on the CPU, the candidate again
                # sees CUDA-looking tensors (runner.device.emulate_cuda).
                with device_context(device):
                    return _function(*args, **kwargs)

            library.impl(key, kernel, dispatch_key, **override)
        yield
    finally:
        library._destroy()
