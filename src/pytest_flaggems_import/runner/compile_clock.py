"""Time Triton spends compiling kernels in this process (issue 17: where a run's time goes), as
Triton reports it to its compilation listener (``triton.knobs.compilation.listener``, Triton 3.4
and later): source to binary, and storing it in the cache, for each kernel not found in the cache.
Building a kernel's launcher is not included; the interpreter (CPU mode) compiles nothing. A
listener set before this one is still called."""

from __future__ import annotations

import threading
from typing import Any


class CompileClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds = 0.0
        self._kernels = 0

    def install(self) -> bool:
        """Listen from now on; False where this Triton (or none) has no listener to set."""
        try:
            from triton import knobs
        except ImportError:
            return False
        compilation = getattr(knobs, "compilation", None)
        if compilation is None or not hasattr(compilation, "listener"):
            return False
        previous = compilation.listener

        def listener(**event: Any) -> None:
            if not event.get("cache_hit", True):
                with self._lock:
                    self._seconds += event["times"].total / 1e6  # microseconds
                    self._kernels += 1
            if previous is not None:
                previous(**event)

        compilation.listener = listener
        return True

    @property
    def seconds(self) -> float:
        """Seconds spent compiling since the last ``take`` (not reset)."""
        with self._lock:
            return self._seconds

    def take(self) -> tuple[float, int]:
        """Seconds spent compiling and kernels compiled since the last ``take``."""
        with self._lock:
            taken = (self._seconds, self._kernels)
            self._seconds, self._kernels = 0.0, 0
        return taken
