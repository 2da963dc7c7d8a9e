"""Guards around candidate code: per-test time limit, Triton launch counting, torch tampering.

Generated operators may hang, may call torch instead of launching a kernel, or may patch the very
torch functions their tests compare against. These guards turn each of those into a plain
failure of the one operator, and put torch back as it was.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass

from pytest_flaggems_import.errors import CandidateError
from pytest_flaggems_import.runner.dispatch import unrouted


class OperatorTimeout(CandidateError):
    """The operator ran past its time limit (``--flaggems-timeout``)."""


class CandidateExit(CandidateError):
    """Candidate code raised KeyboardInterrupt, SystemExit or pytest.exit() inside a test."""


class Tampering(CandidateError):
    """Candidate code replaced torch functions that tests use as the reference."""


def on_main_thread() -> bool:
    """Signal handlers can be set only here (SIGALRM for the time limit, SIGTERM in the controller)."""
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``OperatorTimeout`` inside the running Python code after ``seconds``.

    SIGALRM interrupts Python-level loops, which covers the Triton interpreter. A kernel hung
    on the GPU never returns to Python; under pytest-xdist the hard limit in the plugin ends
    that worker instead, and xdist reports the item as crashed.

    Another alarm may already be armed: pytest-timeout's ``signal`` method, or the user's own.
    The shorter limit wins: if theirs fires first it is left alone (its handler, its message);
    if ours is shorter it runs, and theirs is re-armed afterwards with the time it had left.
    """
    usable = hasattr(signal, "setitimer") and on_main_thread()
    if not usable or seconds <= 0:
        yield
        return
    pending, interval = signal.getitimer(signal.ITIMER_REAL)
    if pending and pending <= seconds:
        yield  # the outer alarm comes first: it is the limit that applies
        return

    def on_alarm(signum, frame):
        raise OperatorTimeout(f"still running after {seconds:g} s (--flaggems-timeout)")

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if pending:
            left = pending - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), interval)


@functools.cache
def warm_lazy_imports() -> None:
    """Import what torch loads on first use, once, before any time limit runs.

    The first ``torch.testing.assert_close`` imports ~500 modules (sympy, mpmath, ...): 1-2 s on
    a loaded 2-core machine, which would otherwise count against the first test's time limit
    (ours and pytest-timeout's) and fail a healthy operator on a slow machine.
    """
    import torch

    from pytest_flaggems_import.runner import proof

    x = torch.zeros(2)
    torch.testing.assert_close(x, x)
    torch.allclose(x, x)
    # The first dispatch mode (runner.proof) imports torch._dynamo, which rewraps torch.manual_seed:
    # not the candidate's tampering.
    proof.guarded(torch.neg, proof.OpName("aten", "neg"))(x)
    proof.take_findings()


@dataclass
class LaunchCount:
    launches: int = 0  # every Triton launch (FlagGems' own kernels too)
    own: int = 0  # launches of kernels the candidate's own code defines


@contextlib.contextmanager
def count_launches(own_source: str | None = None) -> Iterator[LaunchCount]:
    """Count Triton kernel launches (compiled or interpreted) while the block runs.

    A launch is the candidate's own when its ``@triton.jit`` function was compiled from
    ``own_source`` (``runner.isolate.source_name(spec, "code")``): FlagGems' kernels, which a
    candidate may call or which ``use_gems()`` runs, and other operators' kernels are not.
    Autotuned and heuristics-wrapped kernels reach ``JITFunction.run`` too, and count.
    """
    counter = LaunchCount()
    depth = [0]  # LibEntry.run calls JITFunction.run on a first launch: count the outer one

    def counting(original):
        def run(self, *args, **kwargs):
            if not kwargs.get("warmup", False) and not depth[0]:
                counter.launches += 1
                if own_source is not None and kernel_source(self) == own_source:
                    counter.own += 1
            depth[0] += 1
            try:
                with unrouted():  # Triton's own ATen calls are not the candidate's (runner.dispatch)
                    return original(self, *args, **kwargs)
            finally:
                depth[0] -= 1

        return run

    with patched_launches(counting):
        yield counter


def kernel_classes() -> list[type]:
    """Where Triton kernels are launched from Python: ``JITFunction.run`` (compiled), the
    interpreter's, and FlagGems' ``LibEntry.run`` when the real FlagGems is loaded (after its
    first launch it calls the compiled kernel directly, never ``JITFunction.run`` again)."""
    import sys

    from triton.runtime import interpreter, jit

    classes: list[type] = [jit.JITFunction, interpreter.InterpretedFunction]
    libentry = sys.modules.get("flag_gems.utils.libentry")
    if libentry is not None and isinstance(getattr(libentry, "LibEntry", None), type):
        classes.append(libentry.LibEntry)
    return classes


def kernel_source(kernel: object) -> str | None:
    """The file the kernel's Python function was compiled from, through wrappers (``.fn``)."""
    for _ in range(8):
        code = getattr(kernel, "__code__", None)
        if code is not None:
            return code.co_filename
        kernel = getattr(kernel, "jit_function", None) or getattr(kernel, "fn", None)
        if kernel is None:
            return None
    return None


@contextlib.contextmanager
def patched_launches(wrap) -> Iterator[None]:  # noqa: ANN001 - wrap(original run) -> replacement
    """Replace each kernel class's ``run`` with ``wrap(original)`` for the block."""
    originals = {cls: cls.__dict__["run"] for cls in kernel_classes() if "run" in cls.__dict__}
    for cls, original in originals.items():
        cls.run = wrap(original)
    try:
        yield
    finally:
        for cls, original in originals.items():
            cls.run = original


def _watched() -> dict[str, object]:
    import torch

    return {
        "torch": torch, "torch.nn.functional": torch.nn.functional, "torch.testing": torch.testing,
        "torch.Tensor": torch.Tensor, "torch.special": torch.special, "torch.linalg": torch.linalg,
    }  # fmt: skip


@contextlib.contextmanager
def recording_replacements() -> Iterator[list[str]]:
    """Record each assignment to (or deletion of) an existing attribute of the watched modules
    while the block runs, even one undone before it ends: a patch of ``torch.testing.assert_close``
    that puts itself back after one call leaves no trace in a before/after snapshot.

    The modules' class is swapped for one whose ``__setattr__`` records; writing into a module's
    ``__dict__`` directly bypasses it (the snapshot still catches what stays changed)."""
    replaced: list[str] = []
    swapped = []
    for name, owner in _watched().items():
        if type(owner) is types.ModuleType:
            owner.__class__ = _recording_module(name, replaced)
            swapped.append(owner)
    try:
        yield replaced
    finally:
        for owner in swapped:
            owner.__class__ = types.ModuleType


def _recording_module(name: str, replaced: list[str]) -> type[types.ModuleType]:
    class RecordingModule(types.ModuleType):
        def __setattr__(self, attr: str, value: object) -> None:
            if not attr.startswith("__") and self.__dict__.get(attr, value) is not value:
                replaced.append(f"{name}.{attr}")
            super().__setattr__(attr, value)

        def __delattr__(self, attr: str) -> None:
            if attr in self.__dict__:
                replaced.append(f"{name}.{attr}")
            super().__delattr__(attr)

    return RecordingModule


def snapshot() -> dict[str, dict[str, object]]:
    return {name: dict(vars(owner)) for name, owner in _watched().items()}


def restore_tampering(before: dict[str, dict[str, object]]) -> list[str]:
    """Put back every watched torch attribute replaced or removed since ``before``; name each.

    Attributes that appear are not checked: torch imports submodules lazily on first use.
    """
    changed = []
    for name, owner in _watched().items():
        now = vars(owner)
        for attr, old in before[name].items():
            if now.get(attr, _GONE) is not old:
                changed.append(f"{name}.{attr}")
                setattr(owner, attr, old)
    return sorted(changed)


_GONE = object()
