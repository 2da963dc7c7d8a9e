"""Why a 1024² measurement could read 2x (issue 17): the rotated input copies against L2.

    python benchmarks/gpu/l2_probe.py OUT.json [--trials 8]

Times one implementation against *itself* (two rotating calls of the same function, each with its
own input copies, as ``bench.measure`` makes them) with ``bench.time_interleaved``, so every ratio
should be 1. Each trial first allocates a padding buffer of a random size, so the copies land
elsewhere in GPU memory (as they do when other processes hold memory). Done for two ways of
choosing the number of copies: ``fixed8`` (at most 8 copies, the earlier rule), ``l2x2`` and
``l2x4`` (``bench.input_copies``: enough copies to span 2 or 4 times L2; 4 is the default).
Writes per (op, shape, dtype, rule) the per-call times of both sides in every trial and the
ratios, and prints a table.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys

import torch

from pytest_flaggems_import.runner import bench

OPS = {
    "neg": (torch.neg, 1),
    "add": (torch.add, 2),
    "heaviside": (torch.heaviside, 2),
}
CONFIGS = [((1024, 1024), torch.float16), ((1024, 1024), torch.float32), ((4096, 4096), torch.float16)]


def fixed8(args: list) -> int:
    size = sum(a.numel() * a.element_size() for a in args if isinstance(a, torch.Tensor)) or 1
    return max(1, min(8, (1 << 30) // size))


RULES = {
    "fixed8": fixed8,
    "l2x2": lambda args: bench.input_copies(args, bench.l2_bytes("cuda"), multiple=2),
    "l2x4": lambda args: bench.input_copies(args, bench.l2_bytes("cuda")),
}


def trial(fn, n_inputs: int, shape, dtype, rule) -> dict[str, float]:
    padding = torch.empty(random.randrange(0, 512) << 20, dtype=torch.uint8, device="cuda")
    args = [torch.randn(shape, dtype=dtype, device="cuda") for _ in range(n_inputs)]
    copies = rule(args)
    calls = {side: bench.rotating(fn, args, {}, copies) for side in ("your", "cuda")}
    contexts = {side: __import__("contextlib").nullcontext for side in calls}
    timings = bench.time_interleaved(calls, contexts)
    del padding
    return {"copies": copies, "a_ms": timings["your"].p50, "b_ms": timings["cuda"].p50, "ratio": timings["your"].p50 / timings["cuda"].p50}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--trials", type=int, default=8)
    options = parser.parse_args()
    random.seed(0)
    props = torch.cuda.get_device_properties(0)
    found = {"device": props.name, "l2_bytes": props.L2_cache_size, "rows": []}
    print(f"{props.name}, L2 {props.L2_cache_size >> 20} MiB")
    print(f"{'op':10} {'shape':12} {'dtype':8} {'rule':7} {'copies':>6} {'per-call ms (min-max)':>24} {'ratio a/b min-max':>20}")
    for name, (fn, n_inputs) in OPS.items():
        for shape, dtype in CONFIGS:
            for rule_name, rule in RULES.items():
                trials = [trial(fn, n_inputs, shape, dtype, rule) for _ in range(options.trials)]
                times = [t[side] for t in trials for side in ("a_ms", "b_ms")]
                ratios = [t["ratio"] for t in trials]
                found["rows"].append({"op": name, "shape": list(shape), "dtype": str(dtype).removeprefix("torch."),
                                      "rule": rule_name, "trials": trials})  # fmt: skip
                print(f"{name:10} {'x'.join(map(str, shape)):12} {str(dtype)[6:]:8} {rule_name:7} {trials[0]['copies']:6} "
                      f"{min(times):11.5f}-{max(times):.5f} {min(ratios):9.3f}-{max(ratios):.3f} "
                      f"(median {statistics.median(times):.5f})", flush=True)  # fmt: skip
    with open(options.out, "w") as stream:
        json.dump(found, stream, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
