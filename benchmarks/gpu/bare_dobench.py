"""A bare ``triton.testing`` script doing the plugin's measurements, for agreement and overhead.

For every (op, config) in a regenerated ``your_perf_data.json``, it loads the candidate straight
from its operator file, makes the same kind of inputs, and times candidate, torch and FlagGems with
the same rounds, modes and budget as ``runner/bench.py`` (5 alternating rounds, 25 ms each, median),
without pytest or the plugin. Usage on the GPU machine:

    python3 benchmarks/gpu/bare_dobench.py REGEN_DIR OPS_DIR [OPS_DIR...] > bare.json
"""

from __future__ import annotations

import itertools
import json
import linecache
import statistics
import sys
import time
import types
from pathlib import Path

import flag_gems
import torch
import triton.testing

ROUNDS, REP_MS = 5, 25.0


def load(op: str, folders: list[Path]):
    for folder in folders:
        for path in folder.rglob(f"{op}.json"):
            spec = json.loads(path.read_text())
            module = types.ModuleType(f"bare_{op}")
            # triton.jit reads the kernel's source through linecache
            linecache.cache[str(path)] = (len(spec["code"]), None, spec["code"].splitlines(True), str(path))
            exec(compile(spec["code"], str(path), "exec"), module.__dict__)
            entry = spec["op_name"].split("::")[-1].replace(".", "_")
            return getattr(module, entry), spec.get("params", {})
    raise LookupError(op)


def inputs(ref, shape, dtype, params):
    reduction = {"none": 0, "mean": 1, "sum": 2}
    args, kwargs = [], {}
    for arg in ref._schema.arguments:
        if arg.name in params:
            value = params[arg.name]
            value = reduction[value] if str(arg.type) == "int" and value in reduction else value
        elif str(arg.type) == "Tensor" and not arg.has_default_value():
            value = torch.randn(shape, device="cuda").to(getattr(torch, dtype))
        else:
            continue
        if arg.kwarg_only:
            kwargs[arg.name] = value
        else:
            args.append(value)
    copies = [[a.clone() if isinstance(a, torch.Tensor) else a for a in args] for _ in range(8)]
    return copies, kwargs


def main() -> None:
    regen, folders = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    your = json.loads((regen / "your_perf_data.json").read_text())
    gems = json.loads((regen / "flaggems_perf_data.json").read_text())
    rows, start = [], time.perf_counter()
    for op, entry in your.items():
        candidate, params = load(op, folders)
        base, _, overload = op.partition(".")
        ref = getattr(getattr(torch.ops.aten, base), overload or "default")
        for cfg in entry["configs"]:
            sets, kwargs = inputs(ref, cfg["shape"], cfg["dtype"], params)
            print(f"{time.perf_counter() - start:7.1f}s {op} {cfg['shape']} {cfg['dtype']}", file=sys.stderr)
            impls = {"your": candidate, "cuda": ref}
            if op in gems:
                impls["flaggems"] = ref
            samples = {i: {"kernel": [], "cudagraph": []} for i in impls}
            for _ in range(ROUNDS):
                for impl, fn in impls.items():
                    it = itertools.cycle(sets)
                    call = lambda fn=fn, it=it, kw=kwargs: fn(*next(it), **kw)  # noqa: E731
                    ctx = flag_gems.use_gems() if impl == "flaggems" else torch.no_grad()
                    with ctx:
                        samples[impl]["kernel"].append(
                            triton.testing.do_bench(call, warmup=10, rep=REP_MS, return_mode="median")
                        )
                        samples[impl]["cudagraph"].append(
                            triton.testing.do_bench_cudagraph(call, rep=REP_MS, return_mode="median")
                        )
            rows.append(
                {
                    "op": op,
                    "shape": cfg["shape"],
                    "dtype": cfg["dtype"],
                    **{f"{i}_{m}": statistics.median(v) for i, by in samples.items() for m, v in by.items()},
                }
            )
    json.dump(
        {"wall_s": time.perf_counter() - start, "rounds": ROUNDS, "rep_ms": REP_MS, "rows": rows}, sys.stdout, indent=1
    )


if __name__ == "__main__":
    main()
