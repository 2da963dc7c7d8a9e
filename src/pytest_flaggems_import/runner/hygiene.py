"""Is this worker still clean after an operator ran in it? (SPEC 8: blame the right operator.)

An operator can leave things behind that change what the *next* operator in the same process
sees: a thread that ends the process a few seconds later, a replaced signal handler, a sticky CUDA
error (after an illegal memory access every later CUDA call fails). ``ProcessState`` is taken
before an operator loads; ``leftovers`` names what it left. A worker with leftovers is retired
(the plugin ends it after reporting) so the next operator starts in a fresh one.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass

WATCHED_SIGNALS = tuple(
    getattr(signal, name)
    # Not SIGALRM: the plugin's time limit and pytest-timeout arm it around every item.
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGCHLD", "SIGSEGV", "SIGABRT")
    if hasattr(signal, name)
)


@dataclass(frozen=True)
class ProcessState:
    threads: frozenset[int]
    handlers: tuple[object, ...]


def snapshot() -> ProcessState:
    return ProcessState(
        threads=frozenset(t.ident for t in threading.enumerate() if t.ident is not None),
        handlers=tuple(signal.getsignal(s) for s in WATCHED_SIGNALS),
    )


def leftovers(before: ProcessState, device: str) -> list[str]:
    """What is different now from ``before``, one phrase each; empty when the process is clean."""
    found = []
    started = [t for t in threading.enumerate() if t.is_alive() and t.ident not in before.threads]
    if started:
        names = ", ".join(repr(t.name) for t in started)
        found.append(f"left {len(started)} thread(s) running after its tests ({names})")
    for sig, old in zip(WATCHED_SIGNALS, before.handlers, strict=True):
        if signal.getsignal(sig) is not old:
            found.append(f"replaced the {signal.Signals(sig).name} handler")
    if device == "cuda":
        error = _cuda_error()
        if error:
            found.append(f"left the CUDA context broken ({error})")
    return found


def _cuda_error() -> str | None:
    import torch

    try:
        torch.cuda.synchronize()
    except Exception as exc:  # noqa: BLE001 - a sticky CUDA error is any exception here
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None
