"""Where the wall time of one ``bench.measure`` goes, and what a shorter graph replay costs in
steadiness (issue 17: <= 30 ms wall per (implementation, configuration)).

    python3 benchmarks/gpu/measure_split.py CORPUS_DIR OUT.json

The operators and configurations of ``steady_compare.py`` (10 generated ops x 1024² and 4096² x
fp16/fp32, vs torch and FlagGems), warmed up once (Triton compiles, FlagGems autotunes), then for
each ``REPLAY_MS`` in 1.0 (the default), 0.5 and 0.25, two sessions: wall per measurement split
into inputs and check, input copies, sizing and capturing the graphs, the interleaved rounds, and
the recorded ``kernel`` figure (each phase synchronised at its ends); and the speedups of the two
sessions compared (|a - b| / a, configurations over 20 us and all).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

from pytest_flaggems_import.runner import bench

sys.path.insert(0, str(Path(__file__).parent))
from steady_compare import CONFIGS, OPS, load  # noqa: E402

PHASES = {"inputs_for": "inputs", "check_against": "inputs", "rotating": "copies",
          "_calls_per_graph": "capture", "_capture": "capture", "time_kernel": "kernel"}  # fmt: skip
spent: defaultdict[str, float] = defaultdict(float)


active: set[str] = set()  # phases being timed now: one nested in itself counts once


def timed(phase: str, fn):
    def wrapper(*args, **kwargs):
        if phase in active:  # e.g. _capture inside _calls_per_graph
            return fn(*args, **kwargs)
        active.add(phase)
        torch.cuda.synchronize()
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            torch.cuda.synchronize()
            spent[phase] += time.perf_counter() - start
            active.discard(phase)

    return wrapper


for _name, _phase in PHASES.items():
    setattr(bench, _name, timed(_phase, getattr(bench, _name)))
bench.time_interleaved = timed("interleaved", bench.time_interleaved)


def session(loaded) -> list[dict]:
    rows = []
    for op, (candidate, name, params) in loaded.items():
        for config in CONFIGS:
            spent.clear()
            start = time.perf_counter()
            row = bench.measure(candidate, name, config, "cuda", params=params, with_flaggems=True)
            torch.cuda.synchronize()
            wall = time.perf_counter() - start
            split = dict(spent)
            split["rounds"] = split.pop("interleaved", 0.0) - split.get("capture", 0.0)
            speedups = {o: row["spread"]["your"]["cudagraph"]["p50"] / row["spread"][o]["cudagraph"]["p50"]
                        for o in ("cuda", "flaggems") if "cudagraph" in row["spread"].get(o, {})}  # fmt: skip
            rows.append({"op": op, "shape": list(config.shape), "dtype": config.dtype, "wall_s": wall,
                         "split_s": split, "rounds": row["spread"]["your"].get("cudagraph", {}).get("rounds"),
                         "implementations": len(row["spread"]), "speedups": speedups,
                         "fastest_ms": min(t["cudagraph"]["p50"] for t in row["spread"].values() if "cudagraph" in t)})  # fmt: skip
    return rows


def apart(a: list[dict], b: list[dict], over_ms: float) -> dict:
    gaps = sorted(abs(x["speedups"][o] - y["speedups"][o]) / x["speedups"][o] * 100
                  for x, y in zip(a, b, strict=True) for o in x["speedups"] if o in y["speedups"] and x["fastest_ms"] > over_ms)  # fmt: skip
    return {"n": len(gaps), "median_pct": statistics.median(gaps), "p95_pct": gaps[int(0.95 * (len(gaps) - 1))], "max_pct": gaps[-1]}


def main() -> int:
    corpus, out = Path(sys.argv[1]), Path(sys.argv[2])
    loaded = {op: load(corpus / f"{op}.json") for op in OPS}
    session(loaded)  # warm-up: compile, autotune
    found = {}
    for replay_ms in (1.0, 0.5, 0.25):
        bench.REPLAY_MS = replay_ms
        a, b = session(loaded), session(loaded)
        measured = a + b
        per_impl = [r["wall_s"] / r["implementations"] * 1e3 for r in measured]
        phases = {p: round(sum(r["split_s"].get(p, 0.0) for r in measured) / sum(r["implementations"] for r in measured) * 1e3, 2)
                  for p in ("inputs", "copies", "capture", "rounds", "kernel")}  # fmt: skip
        found[str(replay_ms)] = {
            "wall_ms_per_impl_config": {"median": statistics.median(per_impl), "max": max(per_impl)},
            "phases_ms_per_impl_config": phases,
            "rounds_median": statistics.median(r["rounds"] for r in measured if r["rounds"]),
            "repeatability_over_20us": apart(a, b, 0.020),
            "repeatability_all": apart(a, b, 0.0),
            "rows": measured,
        }
        summary = {k: v for k, v in found[str(replay_ms)].items() if k != "rows"}
        print(f"REPLAY_MS {replay_ms}: {json.dumps(summary)}", flush=True)
    out.write_text(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
