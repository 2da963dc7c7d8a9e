"""Benchmark (not a test): ``flaggems-import select`` on a generated 10,000-operator x 20-config file.

    python benchmarks/bench_select.py            # writes benchmarks/results/select-10000x20.json

Times the whole command (load + validate both files, select, write both outputs, free) in-process,
11 repetitions after one warm-up, as wall and CPU time (this 2-core VM's speed drifts by tens of
percent from one second to the next: the CPU time shows how much of a spread is the machine);
then where one run's time goes; then the command as a user runs it, in a fresh interpreter.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_flaggems_import.cli import main
from pytest_flaggems_import.core import formats, jsonio, reports, selection
from pytest_flaggems_import.core.settings import make_rules

OPS, CONFIGS, REPS = 10_000, 20, 11
DTYPES = ["float16", "bf16", "fp32", "torch.float32"]


def generate(folder: Path) -> tuple[Path, Path]:
    rnd = random.Random(0)
    your, fg = {}, {}
    for i in range(OPS):
        configs = [([2 ** (8 + j % 6), 1 + j], DTYPES[j % 3]) for j in range(CONFIGS)]
        your[f"op{i}"] = {"configs": [{"shape": s, "dtype": d, "your_time": rnd.uniform(0.005, 2),
                                       "cuda_time": rnd.uniform(0.005, 2)} for s, d in configs]}  # fmt: skip
        if i % 2 == 0:
            fg[f"op{i}"] = {"configs": [{"shape": s, "dtype": d, "flaggems_time": rnd.uniform(0.005, 2),
                                         "cuda_time": rnd.uniform(0.005, 2)} for s, d in configs]}  # fmt: skip
    (folder / "your.json").write_text(json.dumps(your))
    (folder / "fg.json").write_text(json.dumps(fg))
    return folder / "your.json", folder / "fg.json"


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def stages(your: Path, fg: Path, out: Path) -> dict[str, float]:
    """One run split by step (GC paused, as the command does), seconds."""
    rules = make_rules("auto", (1.3, 1.25), "mean")
    gc.disable()
    try:
        steps: dict[str, float] = {}
        t, _, tables = timed(lambda: (formats.load_perf(your, "your_perf"), formats.load_perf(fg, "flaggems_perf")))
        steps["read + validate + build tables"] = t
        t, _, decisions = timed(lambda: selection.select(*tables, rules))
        steps["select"] = t
        t, _, files = timed(lambda: [reports.selected_file(decisions, b, rules) for b in (1, 2)])
        steps["build selected files (rounding)"] = t
        t, _, texts = timed(lambda: [jsonio.encode(f) for f in files])
        steps["encode JSON"] = t
        steps["write"] = timed(
            lambda: [jsonio.write_atomic(out / f"s{i}.json", x, b"\n") for i, x in enumerate(texts)]
        )[0]
        return steps
    finally:
        gc.enable()


def run() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        your, fg = generate(Path(tmp))
        args = ["select", "--batch", "auto", "--your-data", str(your), "--flaggems-data", str(fg),
                "--threshold", "1.3,1.25", "--output", tmp + "/out/", "--quiet"]  # fmt: skip
        assert main(args) == 0
        walls, cpus = [], []
        for _ in range(REPS):
            wall, cpu, status = timed(lambda: main(args))
            assert status == 0
            walls.append(wall)
            cpus.append(cpu)
        breakdown = [stages(your, fg, Path(tmp)) for _ in range(5)]
        fresh = [timed(lambda: subprocess.run([sys.executable, "-m", "pytest_flaggems_import", *args], check=True))[0]
                 for _ in range(3)]  # fmt: skip
        size = your.stat().st_size + fg.stat().st_size
        written = sum(p.stat().st_size for p in Path(tmp, "out").iterdir())
    return {
        "benchmark": "flaggems-import select --batch auto (read, validate, select, write, free), in-process",
        "operators": OPS, "configs_per_operator": CONFIGS, "input_bytes": size, "output_bytes": written,
        "repetitions": REPS,
        "seconds": spread(walls),
        "cpu_seconds": spread(cpus),
        "median_seconds_by_step": {k: statistics.median(b[k] for b in breakdown) for k in breakdown[0]},
        "fresh_process_seconds": spread(fresh),
        "fresh_process_command": "python -m pytest_flaggems_import select ... (interpreter start and imports included)",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": "python benchmarks/bench_select.py",
    }  # fmt: skip


if __name__ == "__main__":
    result = run()
    out = Path(__file__).parent / "results" / "select-10000x20.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
