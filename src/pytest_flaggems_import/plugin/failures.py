"""The first lines of a failure inside candidate code: where in the operator file, and why.

A bug in a generated kernel fails deep inside Triton (the interpreter's or the compiler's frames,
~100 lines). What the author needs first is their own line and the root cause in one line,
e.g. ``gelu.json::code line 12: y = tl.math.tanh(x)`` and
``AttributeError: module 'triton.language.math' has no attribute 'tanh'``.
"""

from __future__ import annotations

import linecache
from types import TracebackType
from typing import Any

CANDIDATE_SOURCES = ("::code", "::test_func")  # file names runner.isolate gives candidate sources


def candidate_summary(excinfo: Any) -> str | None:
    """Two or three lines, or ``None`` when no frame of the candidate's sources is involved."""
    exc = excinfo.value
    chain = _chain(exc)
    frames = [f for e in chain for f in _frames(e.__traceback__) if f[0].endswith(CANDIDATE_SOURCES)]
    root = chain[-1]
    innermost = _frames(root.__traceback__)
    if not frames or (len(chain) == 1 and innermost and innermost[-1] == frames[-1]):
        return None  # no candidate frame, or it failed on the candidate's own line: pytest shows it last
    filename, lineno = frames[-1]
    line = linecache.getline(filename, lineno).strip()
    lines = [f"{filename} line {lineno}: {line}" if line else f"{filename} line {lineno}", f"cause: {first_line(root)}"]
    if root is not exc:
        lines.append(f"raised as: {first_line(exc)}")
    return "\n".join(lines)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from, outermost first (cycles cut)."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)  # type: ignore[assignment]
    return chain


def _frames(tb: TracebackType | None) -> list[tuple[str, int]]:
    out = []
    while tb is not None:
        out.append((tb.tb_frame.f_code.co_filename, tb.tb_lineno))
        tb = tb.tb_next
    return out


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message``, the one-line form every failure reason uses."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
