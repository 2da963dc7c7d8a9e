"""Timing never overlaps other work on its GPU (SPEC 9): a readers-writer lock per device, shared
by every process on the machine (xdist workers, and other sessions too).

Tests take it shared (``sharing``): any number of them run side by side on one GPU. A
measurement takes it exclusive (``alone``): it waits for the tests running now to finish, and
tests that want to start wait for it. Built on ``fcntl.flock`` (released by the kernel when a
process dies, so a crashed worker never leaves the GPU locked) with a turnstile, so a waiting
measurement is not starved by a stream of new tests: a reader passes the turnstile (exclusive,
held for an instant) before it takes the shared lock; a writer holds the turnstile while it
waits for the readers to drain.

A worker keeps the device alone across one operator's benchmark items (``hold`` until
``release``): each item's measurement would otherwise wait again for every running test to end,
and those waits, not the measurements, were most of a benchmarked session's wall time
(docs/benchmarks.md). While this process holds the device, its own ``sharing`` and ``alone`` are
already satisfied (they return at once: no process waits on itself).

The lock files live in ``<tmp>/flaggems-gpu-locks/``, named after the device (its UUID on a
GPU, so the same physical GPU is one lock whatever ``CUDA_VISIBLE_DEVICES`` says; ``cpu``).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pytest_flaggems_import.runner import device as devices  # no torch at import

FOLDER = Path(tempfile.gettempdir()) / "flaggems-gpu-locks"
_waited_in_process = 0.0  # seconds every DeviceLock of this process has waited, summed


def waited_in_process() -> float:
    """Seconds this process has waited for GPU locks so far; a difference of two readings is what
    the work between them waited (session timing: a test's, a benchmark's, a gate check's)."""
    return _waited_in_process


def device_key(device: str) -> str:
    """The lock's name for this process's current device."""
    if device != "cuda":
        return "cpu"
    import torch

    uuid = getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "uuid", None)
    return f"gpu-{uuid}" if uuid is not None else f"gpu-index-{torch.cuda.current_device()}"


@functools.cache
def for_device(device: str) -> DeviceLock:
    """This process's lock for its current device (call once the device is set up)."""
    return DeviceLock(device_key(device))


class DeviceLock:
    def __init__(self, key: str, folder: Path = FOLDER) -> None:
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                folder.chmod(0o1777)  # shared by every user's sessions, as /tmp is
        self.main = folder / f"{key}.lock"
        self.turnstile = folder / f"{key}.turnstile"
        self._shared: int | None = None  # the descriptor holding the lock shared (``sharing``)
        self._aside = False  # ``sharing`` let go for a while (``step_aside``)
        self._held: contextlib.ExitStack | None = None
        self.holder: str | None = None  # who ``hold`` took the device for (None: not held)

    @contextlib.contextmanager
    def sharing(self) -> Iterator[None]:
        """Held by a test: others may share the device, a measurement may not."""
        if self._held is not None or self._shared is not None or self._aside:
            yield  # this process has the device already
            return
        self._shared = self._take_shared()
        try:
            yield
        finally:
            shared, self._shared, self._aside = self._shared, None, False
            if shared is not None:
                os.close(shared)  # closing releases the lock

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        """Held by a measurement: nothing else of ours runs on the device meanwhile."""
        if self._held is not None:
            yield
            return
        started = time.monotonic()
        with _locked(self.turnstile, fcntl.LOCK_EX), _locked(self.main, fcntl.LOCK_EX):
            self._count_wait(started)
            yield

    def step_aside(self, drain: Callable[[], object]) -> bool:
        """Inside ``sharing``, while this process does no GPU work for a while (Triton compiling
        a kernel): let a measurement have the device. ``drain`` first waits for this process's
        queued GPU work. Whether it stepped aside (not when alone, or outside ``sharing``)."""
        if self._shared is None:
            return False
        drain()
        shared, self._shared, self._aside = self._shared, None, True
        os.close(shared)
        return True

    def step_back(self) -> None:
        """Share the device again after ``step_aside`` (waiting for a measurement under way)."""
        if self._aside:
            self._shared, self._aside = self._take_shared(), False

    def _take_shared(self) -> int:
        started = time.monotonic()
        with _locked(self.turnstile, fcntl.LOCK_EX):
            pass  # wait behind a measurement that is waiting
        shared = _lock(self.main, fcntl.LOCK_SH)
        self._count_wait(started)
        return shared

    def _count_wait(self, started: float) -> None:
        global _waited_in_process
        _waited_in_process += time.monotonic() - started

    def hold(self, holder: str) -> None:
        """Have the device alone from now until ``release`` (for ``holder``: held for another,
        it is released and taken again)."""
        if self.holder == holder:
            return
        self.release()
        held = contextlib.ExitStack()
        held.enter_context(self.alone())
        self._held, self.holder = held, holder

    def release(self) -> None:
        """Let others use the device again (nothing if not held)."""
        held, self._held, self.holder = self._held, None, None
        if held is not None:
            held.close()


def step_aside_while_compiling(device: str) -> bool:
    """From now on a test holding the GPU shared lets it go while Triton compiles one of its
    kernels (seconds of CPU work), so a measurement waiting for the GPU need not wait for the
    compile; it takes it shared again before the kernel launches. Through Triton's
    ``jit_cache_hook`` (before compiling a kernel not in memory) and ``jit_post_compile_hook``
    (after). Only the main thread steps aside, and only while no thread has started since this
    call (one a test started may be launching kernels meanwhile: it keeps the lock). False where
    there is nothing to do (the CPU) or this Triton has no such hooks."""
    if device != "cuda":
        return False
    try:
        from triton import knobs
    except ImportError:
        return False
    runtime = getattr(knobs, "runtime", None)
    if not (hasattr(runtime, "jit_cache_hook") and hasattr(runtime, "jit_post_compile_hook")):
        return False
    before, after = runtime.jit_cache_hook, runtime.jit_post_compile_hook
    ours = set(threading.enumerate())  # the process's own threads (xdist's, the main one)

    def compiling(**event: object) -> object:
        lock = for_device(device)
        if threading.current_thread() is threading.main_thread() and set(threading.enumerate()) <= ours:
            lock.step_aside(lambda: devices.synchronize(device))
        skip = before(**event) if before is not None else False
        if skip:  # an earlier hook skips the compile: no post-compile call will come
            lock.step_back()
        return skip

    def compiled(**event: object) -> object:
        for_device(device).step_back()
        return after(**event) if after is not None else None

    runtime.jit_cache_hook, runtime.jit_post_compile_hook = compiling, compiled
    return True


@contextlib.contextmanager
def _locked(path: Path, how: int) -> Iterator[None]:
    fd = _lock(path, how)
    try:
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _lock(path: Path, how: int) -> int:
    """A descriptor of ``path`` holding the lock ``how`` (waiting for it)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:  # another user's lock file: reading is enough to lock it
        fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, how)
    except BaseException:
        os.close(fd)
        raise
    return fd
