"""Issue 17: the new steady measurement (``runner.bench.measure``: interleaved graph replay until the
median ratios settle, plus a 3 ms ``do_bench``) against the method it replaced (5 alternating
rounds of ``do_bench`` 25 ms and ``do_bench_cudagraph`` 25 ms per implementation), on the same
operators, configurations and inputs, in one process on one GPU:

- wall per (implementation, configuration) of each method;
- repeatability: the new method twice (two "sessions"), speedup vs torch and vs FlagGems;
- agreement: new ``cudagraph`` figures against the old ``do_bench_cudagraph`` ones.

    python3 benchmarks/gpu/steady_compare.py CORPUS_DIR OUT.json
"""

from __future__ import annotations

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

from pytest_flaggems_import.core.names import parse_op_name
from pytest_flaggems_import.runner import bench

OPS = ("abs", "celu", "cos_", "elu", "exp2", "gelu_", "maximum", "reciprocal", "sigmoid", "softplus")
CONFIGS = [bench.BenchConfig(s, d) for s in ((1024, 1024), (4096, 4096)) for d in ("float16", "float32")]


def load(path: Path):
    spec = json.loads(path.read_text())
    module = types.ModuleType(f"steady_{path.stem}")
    linecache.cache[str(path)] = (len(spec["code"]), None, spec["code"].splitlines(True), str(path))  # triton.jit reads it
    exec(compile(spec["code"], str(path), "exec"), module.__dict__)
    name = parse_op_name(spec["op_name"])
    return getattr(module, name.entry), name, spec.get("params", {})


def old_method(candidate, name, config, params) -> dict:
    """The measurement as it was before: 5 rounds x (do_bench 25 ms + do_bench_cudagraph 25 ms)."""
    reference, args, kwargs = bench.inputs_for(name, config, "cuda", params, None)
    bench.check_against(candidate, reference, args, kwargs, config.dtype)
    copies = bench.input_copies(args, bench.l2_bytes("cuda"))
    impls = {"your": candidate, "cuda": reference, "flaggems": reference}
    calls = {i: bench.rotating(fn, args, kwargs, copies) for i, fn in impls.items()}
    samples = {i: {"kernel": [], "cudagraph": []} for i in impls}
    for _ in range(5):
        for impl, call in calls.items():
            ctx = flag_gems.use_gems() if impl == "flaggems" else torch.no_grad()
            with ctx:
                samples[impl]["kernel"].append(triton.testing.do_bench(call, warmup=10, rep=25, return_mode="median"))
                samples[impl]["cudagraph"].append(triton.testing.do_bench_cudagraph(call, rep=25, return_mode="median"))
    return {f"{i}_{m}": statistics.median(v) for i, by in samples.items() for m, v in by.items()}


def new_method(candidate, name, config, params) -> dict:
    row = bench.measure(candidate, name, config, "cuda", metric="cudagraph", params=params, with_flaggems=True)
    spread = row["spread"]
    out = {f"{i}_{m}": t["p50"] for i, by in spread.items() for m, t in by.items()}
    out["rounds"] = spread["your"].get("cudagraph", {}).get("rounds")
    out["capture_error"] = row.get("capture_error")
    return out


def main() -> None:
    corpus, out = Path(sys.argv[1]), Path(sys.argv[2])
    loaded = {op: load(corpus / f"{op}.json") for op in OPS}
    rows = []
    for session in ("old", "new_a", "new_b"):
        for op, (candidate, name, params) in loaded.items():
            for config in CONFIGS:
                start = time.perf_counter()
                figures = (old_method if session == "old" else new_method)(candidate, name, config, params)
                torch.cuda.synchronize()
                wall = time.perf_counter() - start
                rows.append({"session": session, "op": op, "shape": list(config.shape), "dtype": config.dtype,
                             "wall_s": wall, **figures})  # fmt: skip
                print(f"{session} {op} {config.id} {wall * 1e3:.0f} ms", file=sys.stderr, flush=True)
    out.write_text(json.dumps({"gpu": torch.cuda.get_device_name(), "rows": rows}, indent=1))
    summarise(rows)


def _pct(values):
    values = sorted(values)
    return {"median": statistics.median(values), "p95": values[min(len(values) - 1, int(0.95 * len(values)))],
            "max": values[-1], "n": len(values)}  # fmt: skip


def summarise(rows) -> None:
    by = {(r["session"], r["op"], tuple(r["shape"]), r["dtype"]): r for r in rows}
    keys = sorted({k[1:] for k in by})
    report = {}
    for session in ("old", "new_a"):
        walls = [by[(session, *k)]["wall_s"] / 3 for k in keys]
        report[f"wall per (impl, config), {session}"] = _pct([w * 1e3 for w in walls])
    big = [k for k in keys if by[("new_a", *k)]["cuda_cudagraph"] > 0.020]
    for against in ("cuda", "flaggems"):
        diffs = []
        for k in big:
            a, b = by[("new_a", *k)], by[("new_b", *k)]
            sa, sb = a[f"{against}_cudagraph"] / a["your_cudagraph"], b[f"{against}_cudagraph"] / b["your_cudagraph"]
            diffs.append(abs(sa - sb) / sa * 100)
        report[f"repeatability new, speedup vs {against}, % (configs > 20 us)"] = _pct(diffs)
        agree = []
        for k in big:
            new, old = by[("new_a", *k)], by[("old", *k)]
            s_new = new[f"{against}_cudagraph"] / new["your_cudagraph"]
            s_old = old[f"{against}_cudagraph"] / old["your_cudagraph"]
            agree.append((s_new - s_old) / s_old * 100)
        report[f"agreement new vs old cudagraph speedup vs {against}, % (signed)"] = _pct([abs(x) for x in agree])
    for impl in ("your", "cuda", "flaggems"):
        ratio = [by[("new_a", *k)][f"{impl}_cudagraph"] / by[("old", *k)][f"{impl}_cudagraph"] for k in keys]
        report[f"new/old cudagraph time, {impl}"] = _pct(ratio)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
