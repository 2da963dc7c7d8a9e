"""Dtype spellings → canonical torch names (``"fp16"`` → ``"float16"``), without importing torch."""

from __future__ import annotations

import functools

CANONICAL = (
    "float16", "bfloat16", "float32", "float64",
    "int8", "int16", "int32", "int64", "uint8", "bool",
    "complex64", "complex128",
    "float8_e4m3fn", "float8_e5m2",
)  # fmt: skip

_ALIASES = {
    "fp16": "float16", "half": "float16", "f16": "float16",
    "bf16": "bfloat16",
    "fp32": "float32", "float": "float32", "f32": "float32",
    "fp64": "float64", "double": "float64", "f64": "float64",
    "i8": "int8", "i16": "int16", "short": "int16",
    "i32": "int32", "int": "int32",
    "i64": "int64", "long": "int64",
    "u8": "uint8",
    "cfloat": "complex64", "cdouble": "complex128",
}  # fmt: skip


@functools.cache  # perf files spell a handful of dtypes 200,000 times
def canonical_dtype(name: str) -> str:
    """Return the canonical spelling; raise ``ValueError`` for an unknown dtype."""
    key = str(name).strip().lower().removeprefix("torch.")
    if key in CANONICAL:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown dtype {name!r} (expected one of {', '.join(CANONICAL[:4])}, ...)")
