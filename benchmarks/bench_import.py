"""Benchmark (not a test): ``flaggems-import import`` of N generated operators into a fresh checkout.

    python benchmarks/bench_import.py [N ...]     # default 500 1000 3000; writes benchmarks/results/import-scale.json

For each N: N operator files (a small Triton kernel each), a selected file and a session file
written by the tool, then the import into a fresh checkout of each layout (the seed's
``generated``, ``experimental_ops``, and ``ops`` on a hand-written FlagGems-shaped tree), timed
in-process as wall and CPU time, 3 repetitions (each into a new copy), median reported.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pytest_flaggems_import.cli import main

CODE = '''import torch
import triton
import triton.language as tl


@triton.jit
def {name}_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) * {k}.0, mask=mask)


def {name}(x):
    out = torch.empty_like(x)
    {name}_kernel[(triton.cdiv(x.numel(), 1024),)](x, out, x.numel(), BLOCK=1024)
    return out
'''
TEST = "import torch\nfrom flag_gems.experimental_ops.{name} import {name}\n\n\ndef test_{name}():\n    pass\n"
TOP = "import torch\n\n_FULL_CONFIG = (\n    (\"abs\", abs),\n)\n"
OPS_INIT = "from flag_gems.ops.abs import abs\n\n__all__ = [\n    \"abs\",\n]\n"
YAML = "ops:\n  - id: abs\n    description: x\n    stages:\n      - stable: '5.4'\n"


def inputs(folder: Path, n: int) -> tuple[Path, Path]:
    ops = folder / "ops"
    ops.mkdir(parents=True)
    perf = {}
    for i in range(n):
        name = f"gen_op_{i:05d}"
        spec = {"op_name": name, "code": CODE.format(name=name, k=i % 7 + 2), "test_func": TEST.format(name=name),
                "category": "pointwise"}  # fmt: skip
        (ops / f"{name}.json").write_text(json.dumps(spec))
        perf[name] = {"configs": [{"shape": [1024], "dtype": "float16", "your_time": 0.5, "cuda_time": 1.0}]}
    (folder / "your.json").write_text(json.dumps(perf))
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["select", "--batch", "2", "--your-data", str(folder / "your.json"), "--output", f"{folder}/sel/",
                     "--quiet"]) == 0  # fmt: skip
    session = {"partial": False, "provenance": {}, "decisions": [], "operators": {
        f"gen_op_{i:05d}": {"op": f"gen_op_{i:05d}", "passed": 1, "failed": 0, "blocked": None, "evidence": "passed"}
        for i in range(n)}}  # fmt: skip
    (folder / "sel" / "session.json").write_text(json.dumps(session))
    return ops, folder / "sel" / "selected_batch2.json"


def checkout(folder: Path, layout: str) -> Path:
    root = folder / f"checkout-{layout}"
    package = root / "src" / "flag_gems"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(TOP)
    if layout == "experimental_ops":
        (package / "experimental_ops").mkdir()
        (package / "experimental_ops" / "__init__.py").write_text("")
    if layout == "ops":
        (package / "ops").mkdir()
        (package / "ops" / "__init__.py").write_text(OPS_INIT)
        (root / "conf").mkdir()
        (root / "conf" / "operators.yaml").write_text(YAML)
    return root


def time_import(ops: Path, sel: Path, root: Path) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(root)])
    assert status == 0
    return time.perf_counter() - wall, time.process_time() - cpu


def main_bench(sizes: list[int]) -> dict:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            ops, sel = inputs(Path(tmp), n)
            for layout in ("generated", "experimental_ops", "ops"):
                runs = []
                for rep in range(3):
                    root = checkout(Path(tmp) / f"r{rep}", layout)
                    runs.append(time_import(ops, sel, root))
                    shutil.rmtree(root)
                walls, cpus = [w for w, _ in runs], [c for _, c in runs]
                row = {"operators": n, "layout": layout, "wall_s_median": round(statistics.median(walls), 2),
                       "wall_s": [round(w, 2) for w in walls], "cpu_s_median": round(statistics.median(cpus), 2)}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
    return {"machine": f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}",
            "command": "python benchmarks/bench_import.py " + " ".join(map(str, sizes)), "rows": rows}  # fmt: skip


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [500, 1000, 3000]
    result = main_bench(sizes)
    out = Path(__file__).parent / "results" / "import-scale.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
