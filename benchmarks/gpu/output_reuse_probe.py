"""Why a small configuration's graph figure can double for one implementation for a whole
measurement (issue 17: `fix` 1024² fp32 timed 3.61 then 6.82 us in two sessions, its `kernel`
figure 6.43 and 6.50 both times). Hypothesis: the outputs each call allocates inside the captured
graph. If the graph's memory pool hands every call the same output block, the writes stay in L2;
if each call gets a block of its own, every write goes to memory. (Answer, recorded in
benchmarks/results/gpu-graph-sizing-2026-11-26/: no, 2-3 output blocks in every trial; what
differed was how many calls a graph held, ``calls`` below, which led to ``_calls_per_graph``'s fix.)

    python3 benchmarks/gpu/output_reuse_probe.py CORPUS_DIR OUT.json [--trials 12]

For each operator of ``OPS`` at 1024² fp32 and fp16, ``trials`` times (each after a padding
allocation of random size, as ``l2_probe.py`` does): the candidate against torch with
``bench.time_interleaved`` on rotated copies, as ``bench.measure`` does, recording per call the
output's address; prints per trial each side's per-call time, how many calls it made (sizing,
warm-up and the captured graph's calls together) and how many distinct output blocks they used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
from pathlib import Path

import torch

from pytest_flaggems_import.runner import bench

sys.path.insert(0, str(Path(__file__).parent))
from steady_compare import load  # noqa: E402

OPS = ("fix", "negative", "reciprocal_")  # in the flag-gems corpus


def tracked(fn, seen: list[int]):
    def call(*args, **kwargs):
        out = fn(*args, **kwargs)
        seen.append(out.data_ptr() if isinstance(out, torch.Tensor) else 0)
        return out

    return call


def trial(candidate, name, config, params) -> dict:
    padding = torch.empty(random.randrange(0, 512) << 20, dtype=torch.uint8, device="cuda")
    checked = bench.checked_inputs(candidate, name, config, "cuda", params)
    copies = bench.input_copies(checked.args, bench.l2_bytes("cuda"))
    seen: dict[str, list[int]] = {"your": [], "cuda": []}
    impls = {"your": candidate, "cuda": checked.reference}
    calls = {i: bench.rotating(tracked(fn, seen[i]), checked.args, checked.kwargs, copies) for i, fn in impls.items()}
    timings = bench.time_interleaved(calls, {i: contextlib.nullcontext for i in calls})
    del padding
    return {i: {"us": round(timings[i].p50 * 1000, 3), "calls": len(seen[i]), "distinct_outputs": len(set(seen[i]))}
            for i in calls} | {"copies": copies}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("out")
    parser.add_argument("--trials", type=int, default=12)
    options = parser.parse_args()
    results = []
    for op in OPS:
        candidate, name, params = load(Path(options.corpus) / f"{op}.json")
        for dtype in ("float32", "float16"):
            config = bench.BenchConfig((1024, 1024), dtype)
            for number in range(options.trials):
                row = {"op": op, "config": config.id, "trial": number, **trial(candidate, name, config, params)}
                print(json.dumps(row), flush=True)
                results.append(row)
    Path(options.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
