"""Category of an operator (``pointwise``, ``reduction``, ``blas``, ...) when its file gives none."""

from __future__ import annotations

import re

from pytest_flaggems_import.core.names import OpName

_BLAS = {"mm", "bmm", "addmm", "matmul", "mv", "addmv", "linear", "baddbmm", "dot", "vdot", "outer", "addr"}
_REDUCTION_WORDS = {
    "sum", "nansum", "mean", "nanmean", "prod", "amax", "amin", "max", "min", "aminmax", "argmax", "argmin",
    "norm", "rmsnorm", "layernorm", "var", "std", "softmax", "logsumexp", "cumsum", "cumprod", "cummax",
    "cummin", "all", "any", "count", "loss", "trace", "median", "mode", "topk", "sort",
}  # fmt: skip
_AXIS_REDUCTION = re.compile(r"tl\.(sum|max|min|reduce|argmax|argmin|cumsum)\([^)]*axis\s*=")


def infer_category(name: OpName, code: str) -> str:
    """``tl.dot`` or a matrix-product name → blas; a reducing name or an axis reduction → reduction;
    anything else → pointwise. The file's own ``category`` always wins over this guess."""
    base = name.base.strip("_")
    if base in _BLAS or "tl.dot(" in code:
        return "blas"
    if _REDUCTION_WORDS & set(base.split("_")) or _AXIS_REDUCTION.search(code):
        return "reduction"
    return "pointwise"
