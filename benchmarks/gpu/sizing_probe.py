"""Why one implementation's graph figure can read 2x for a whole measurement (issue 17: the
``log10_`` candidate at 1024² fp16 timed 6 then 3 us in two sessions of the 100x4x3 run, torch
and FlagGems unchanged beside it). Hypothesis: the graph held too few calls (``calls``, from
``bench._calls_per_graph``), so each replay's fixed cost weighed on every call.

    python3 benchmarks/gpu/sizing_probe.py CORPUS_DIR OUT.json [--trials 20]

For each operator of ``OPS`` at 1024² fp16 and fp32, ``trials`` measurements (``bench.measure``
against torch and FlagGems) with ``SIZING_REPLAYS`` 1 (the sizing before) and 3 (now),
alternating: per implementation its figure and the calls per graph; per setting how often an
implementation read more than 1.5x its fastest trial, and the calls per graph then.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from pytest_flaggems_import.runner import bench

sys.path.insert(0, str(Path(__file__).parent))
from steady_compare import load  # noqa: E402

OPS = ("log10_", "fix", "negative", "reciprocal_", "sigmoid", "abs")
CONFIGS = [bench.BenchConfig((1024, 1024), d) for d in ("float16", "float32")]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--trials", type=int, default=20)
    given = parser.parse_args()
    rows = []
    for op in OPS:
        candidate, name, params = load(given.corpus / f"{op}.json")
        for config in CONFIGS:
            for trial in range(given.trials):
                for replays in (1, 3):
                    bench.SIZING_REPLAYS = replays
                    row = bench.measure(candidate, name, config, "cuda", params=params, with_flaggems=True)
                    graph = {i: t["cudagraph"] for i, t in row["spread"].items() if "cudagraph" in t}
                    rows.append({"op": op, "config": config.id, "trial": trial, "sizing_replays": replays,
                                 "ms": {i: g["p50"] for i, g in graph.items()},
                                 "calls": {i: g.get("calls") for i, g in graph.items()}})  # fmt: skip
            print(f"{op} {config.id}: done", flush=True)
    summary = {}
    for replays in (1, 3):
        mine = [r for r in rows if r["sizing_replays"] == replays]
        slow, calls_slow, calls_all = 0, [], []
        for op in OPS:
            for config in CONFIGS:
                these = [r for r in mine if r["op"] == op and r["config"] == config.id]
                for impl in these[0]["ms"]:
                    fastest = min(r["ms"][impl] for r in these)
                    for r in these:
                        calls_all.append(r["calls"][impl])
                        if r["ms"][impl] > 1.5 * fastest:
                            slow += 1
                            calls_slow.append(r["calls"][impl])
        summary[f"sizing_replays={replays}"] = {
            "figures": len(calls_all), "over 1.5x the fastest": slow,
            "calls per graph then": sorted(calls_slow),
            "calls per graph, median of all": statistics.median(calls_all),
        }  # fmt: skip
    print(json.dumps(summary, indent=1))
    given.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
