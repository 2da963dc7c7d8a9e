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
from collections.abc import Iterator
from pathlib import Path

FOLDER = Path(tempfile.gettempdir()) / "flaggems-gpu-locks"


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
        self._held: contextlib.ExitStack | None = None
        self.holder: str | None = None  # who ``hold`` took the device for (None: not held)

    @contextlib.contextmanager
    def sharing(self) -> Iterator[None]:
        """Held by a test: others may share the device, a measurement may not."""
        if self._held is not None:
            yield
            return
        with _locked(self.turnstile, fcntl.LOCK_EX):
            pass  # wait behind a measurement that is waiting
        with _locked(self.main, fcntl.LOCK_SH):
            yield

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        """Held by a measurement: nothing else of ours runs on the device meanwhile."""
        if self._held is not None:
            yield
            return
        with _locked(self.turnstile, fcntl.LOCK_EX), _locked(self.main, fcntl.LOCK_EX):
            yield

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


@contextlib.contextmanager
def _locked(path: Path, how: int) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:  # another user's lock file: reading is enough to lock it
        fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)  # closing releases the lock
