"""Reading and writing JSON: parse errors as ``InputError``, 3-decimal rounding, atomic writes."""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from pytest_flaggems_import.errors import InputError


def read_json(path: str | Path) -> Any:
    """Parse a UTF-8 JSON file; a missing file or a syntax error names the file and position."""
    return parse_json(read_bytes(path), path)


MAX_INPUT_BYTES = 1 << 30  # 1 GiB: 30x the largest perf file we measured (10,000 ops x 20 configs)
MAX_DEPTH = 64  # no input format nests deeper than 6; the limit keeps parsers and validators off recursion limits


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a regular file; a FIFO, a device or a folder is refused before reading (reading
    a FIFO would wait forever), and so is a file larger than ``MAX_INPUT_BYTES``."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(path, None, "not a regular file (a folder, FIFO or device): refused before reading")
        if info.st_size > MAX_INPUT_BYTES:
            raise InputError(path, None, f"{info.st_size} bytes: larger than any input this tool reads ({MAX_INPUT_BYTES})")
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(path, None, "no such file") from None
    except OSError as exc:
        raise InputError(path, None, f"cannot read: {exc}") from None


def parse_json(raw: bytes, path: str | Path) -> Any:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(path, None, f"cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, None, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise InputError(path, None, f"nested deeper than {MAX_DEPTH} levels") from None
    if _depth_exceeds(data, MAX_DEPTH):
        raise InputError(path, None, f"nested deeper than {MAX_DEPTH} levels")
    if (b"\\ud" in raw or b"\\uD" in raw) and _has_lone_surrogate(data):
        raise InputError(path, None, "a string holds a lone surrogate (\\ud800-\\udfff): not Unicode text")
    return data


def _has_lone_surrogate(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _depth_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` nests more than ``limit`` lists/objects deep (iteratively: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value  # type: ignore[assignment]
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def rounded(value: Any, digits: int = 3) -> Any:
    """Round every float in a JSON-like tree; files show 3 decimals (SPEC §3), decisions don't."""
    if isinstance(value, float):
        return round_float(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value


def round_float(value: float | None, digits: int = 3) -> float | None:
    """One number as files show it; ``None`` (JSON null) for a missing or non-finite one."""
    return round(value, digits) if value is not None and math.isfinite(value) else None


_BULK = 64  # below this many numbers, numpy's fixed cost exceeds what it saves


def round_floats(values: Sequence[float | None], digits: int = 3) -> list[float | None]:
    """``[round_float(v, digits) for v in values]``, the same numbers, computed in bulk.

    ``round()`` is correctly rounded and costs 230 ns a number here; a selected file holds half
    a million. numpy rounds by scaling, ``rint(x * 10**d) / 10**d``, which gives the same double
    unless ``x * 10**d`` lies within its own rounding error of a half (near a tie) or is too big
    to hold the digits: those few numbers, and lists with ``None`` or too short to gain, go
    through ``round_float``. tests/unit/test_jsonio.py checks the agreement, ties included.
    """
    if len(values) < _BULK or None in values:
        return [round_float(v, digits) for v in values]
    import numpy as np  # here: pytest loads this module with the plugin, and numpy costs 75 ms

    x = np.asarray(values, dtype=np.float64)
    scale = 10.0**digits
    with np.errstate(over="ignore", invalid="ignore"):  # inf/nan compare False below: redone
        scaled = x * scale
        out = (np.rint(scaled) / scale).tolist()
        near_half = np.abs(scaled - np.floor(scaled) - 0.5) <= np.abs(scaled) * 2.0**-50
        doubtful = near_half | ~(np.abs(scaled) < 2.0**50)
    for i in np.flatnonzero(doubtful).tolist():
        out[i] = round_float(values[i], digits)
    return out


def encode(data: Any) -> bytes:
    """Indented UTF-8 JSON, laid out as ``json.dumps(data, indent=2, ensure_ascii=False)`` does.

    Encoded by msgspec: a selected file of 5,000 operators is 25 MB, which the stdlib's indenting
    encoder (pure Python) takes 1.0 s to write and msgspec 0.09 s. Two differences, both valid
    JSON: exponents read ``1e16``/``0.00001`` instead of ``1e+16``/``1e-05``, and NaN/Infinity
    become ``null`` (``rounded`` already maps them so; no file of ours holds one). No final
    newline: files get theirs from ``write_json``, written apart rather than appended to 25 MB.
    """
    return msgspec.json.format(_ENCODER.encode(data), indent=2)


def _as_builtin(value: Any) -> Any:
    """What ``json.dumps`` accepts and msgspec does not: subclasses of str, int and float
    (``torch.__version__`` is a ``TorchVersion(str)``). Anything else stays an error."""
    for base in (str, int, float):
        if isinstance(value, base):
            return base(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


_ENCODER = msgspec.json.Encoder(enc_hook=_as_builtin)


def dumps(data: Any) -> str:
    """``encode`` as text, with the final newline a file has."""
    return encode(data).decode("utf-8") + "\n"


def write_atomic(path: str | Path, *parts: str | bytes) -> None:
    """Write through a temporary file in the same folder, then ``os.replace``.

    A reader sees the old file or the new one, never half of one (the same idea as pytest's
    ``_write_pyc``); a failure leaves the old file untouched. Text is written as UTF-8, ``\n``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for part in parts:
                handle.write(part.encode("utf-8") if isinstance(part, str) else part)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data: Any) -> None:
    write_atomic(path, encode(data), b"\n")
