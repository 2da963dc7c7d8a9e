"""Helpers shared by the tests: a tiny interpreter-friendly operator, JSON writers, perf tables."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

ADD_ONE_CODE = """
import torch
import triton
import triton.language as tl


@triton.jit
def add_one_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) + 1.0, mask=mask)


def {entry}(x):
    assert x.is_cuda, "written for CUDA"
    out = torch.empty_like(x)
    add_one_kernel[(triton.cdiv(x.numel(), 128),)](x, out, x.numel(), BLOCK=128)
    return out
"""

ADD_ONE_TEST = """
import pytest
import torch
from flag_gems.experimental.generated.{category}.{entry} import {entry}


@pytest.mark.parametrize("n", [7, 300])
def test_{entry}_adds_one(n):
    x = torch.randn(n, device="cuda")
    torch.testing.assert_close({entry}(x), x + 1)
"""


RELU_CODE = """
import torch
import triton
import triton.language as tl


@triton.jit
def relu_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    tl.store(out_ptr + offs, tl.where(x > 0, x, 0.0).to(x.dtype), mask=mask)


def relu(x):
    out = torch.empty_like(x)
    relu_kernel[({grid},)](x, out, x.numel(), BLOCK=1024)
    return out
"""
"""aten::relu for benchmarks; ``{grid}`` is the launch grid (``triton.cdiv(x.numel(), 1024)``)."""


def operator_json(op: str = "add_one", *, code: str | None = None, test: str | None = "default",
                  category: str = "pointwise", **extra) -> dict:  # fmt: skip
    """A tiny operator that works in the Triton interpreter: x + 1."""
    entry = op.split("::")[-1].replace(".", "_")
    data = {"op_name": op, "code": code if code is not None else ADD_ONE_CODE.format(entry=entry)}
    if test == "default":
        test = ADD_ONE_TEST.format(entry=entry, category=category)
    if test is not None:
        data["test_func"] = test
    data.update(extra)
    return data


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def perf(op_times: dict[str, list[tuple[list[int], str, float, float]]], key: str = "your_time") -> dict:
    return {
        op: {"configs": [{"shape": s, "dtype": d, key: t, "cuda_time": c} for s, d, t, c in rows]}
        for op, rows in op_times.items()
    }


def run(pytester, *args):
    """Run pytest with the plugin on the CPU, in a subprocess (torch is involved)."""
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--flaggems-device=cpu", *args)


def session_json(outcomes: dict[str, tuple[int, int]], *, partial: bool = False) -> dict:
    """A session.json as the plugin writes it, reduced to what ``flaggems-import import`` reads:
    per operator (passed, failed); ``blocked`` is null exactly when its tests passed."""
    operators = {}
    for op, (passed, failed) in outcomes.items():
        blocked = f"tests failed: {failed} of {passed + failed}" if failed else (None if passed else "no tests")
        evidence = "failed" if failed else ("passed" if passed else "none")
        operators[op] = {"op": op, "passed": passed, "failed": failed, "load_error": None, "complete": True,
                         "blocked": blocked, "evidence": evidence}  # fmt: skip
    return {"partial": partial, "provenance": {}, "operators": operators, "decisions": []}


SIGMOID = """
import torch
import triton
import triton.language as tl


@triton.jit
def sigmoid_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + offs, {value}, mask=mask)


def {entry}(x):
    assert x.is_cuda, "written for CUDA"
    out = torch.empty_like(x)
    sigmoid_kernel[(triton.cdiv(x.numel(), 128),)](x, out, x.numel(), BLOCK=128)
    return out
"""
# FlagGems' own test style (tests/test_<op>.py): the op is called through aten inside use_gems().
DISPATCH_TEST = """
import pytest
import torch
import flag_gems


@pytest.mark.parametrize("n", [7, 300])
def test_sigmoid(n):
    x = torch.randn(n, device=flag_gems.device)
    ref = torch.sigmoid(x)
    with flag_gems.use_gems():
        res = torch.ops.aten.sigmoid(x)
    torch.testing.assert_close(res, ref)
"""


# -- reports -----------------------------------------------------------------------------
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"  # recorded GPU sessions
PNG = b"\x89PNG\r\n\x1a\n"


class Tables(HTMLParser):
    """The rows of each table with an id, as text cells; every src/href seen."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[k] for k in ("src", "href") if k in attrs]
        if tag == "table":
            self._table = attrs.get("id")
            if self._table:
                self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables_of(path: Path) -> Tables:
    parser = Tables()
    parser.feed(path.read_text())
    return parser
