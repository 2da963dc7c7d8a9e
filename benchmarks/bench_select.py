"""Benchmark (not a test): ``flaggems-import select`` on a generated 10,000-operator x 20-config file.

    python benchmarks/bench_select.py            # writes benchmarks/results/select-10000x20.json

Times the whole command (load + validate both files, select, write both outputs) in-process,
5 repetitions after one warm-up, and records min/median/max with the machine it ran on.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pytest_flaggems_import.cli import main

OPS, CONFIGS, REPS = 10_000, 20, 5
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


def run() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        your, fg = generate(Path(tmp))
        args = ["select", "--batch", "auto", "--your-data", str(your), "--flaggems-data", str(fg),
                "--threshold", "1.3,1.25", "--output", tmp + "/out/", "--quiet"]  # fmt: skip
        assert main(args) == 0
        times = []
        for _ in range(REPS):
            start = time.perf_counter()
            assert main(args) == 0
            times.append(time.perf_counter() - start)
        size = your.stat().st_size + fg.stat().st_size
    return {
        "benchmark": "flaggems-import select --batch auto (load, validate, select, write)",
        "operators": OPS, "configs_per_operator": CONFIGS, "input_bytes": size, "repetitions": REPS,
        "seconds": {"min": min(times), "median": statistics.median(times), "max": max(times)},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": "python benchmarks/bench_select.py",
    }  # fmt: skip


if __name__ == "__main__":
    result = run()
    out = Path(__file__).parent / "results" / "select-10000x20.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
