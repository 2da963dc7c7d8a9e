"""Two sessions' measured speedups, configuration by configuration: how far apart they are
(median, p95, max of |a - b| / a, in %), and whether every decision is the same. Each folder is
a --flaggems-report-dir with the run's --flaggems-regen files in ``regen/`` (unrounded times;
session.json rounds to 0.001 ms, too coarse for a 5 us configuration).

    python3 benchmarks/gpu/compare_sessions.py A_DIR B_DIR
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def rows(folder: str) -> tuple[dict, dict]:
    session = json.loads((Path(folder) / "session.json").read_text())
    by_config: dict = {}
    for name in ("your_perf_data.json", "flaggems_perf_data.json"):
        for op, entry in json.loads((Path(folder) / "regen" / name).read_text()).items():
            for row in entry["configs"]:
                by_config.setdefault((op, tuple(row["shape"]), row["dtype"]), {}).update(row)
    return by_config, {d["op"]: d["selected"] for d in session["decisions"]}


def spread(values: list[float]) -> dict:
    values = sorted(values)
    return {"median": statistics.median(values), "p95": values[min(len(values) - 1, int(0.95 * len(values)))],
            "max": values[-1], "n": len(values)}  # fmt: skip


def main() -> None:
    (a, decided_a), (b, decided_b) = rows(sys.argv[1]), rows(sys.argv[2])
    timing = {k: json.loads((Path(p) / "session.json").read_text()).get("timing") for k, p in zip("ab", sys.argv[1:3], strict=True)}
    out = {"same decisions": decided_a == decided_b, "timing": timing}
    for against in ("cuda_time", "flaggems_time"):
        for label, keep in (("all", lambda r: True), ("configs > 20 us", lambda r: r["cuda_time"] > 0.020)):
            diffs = []
            for key in sorted(set(a) & set(b)):
                ra, rb = a[key], b[key]
                if not keep(ra) or against not in ra or against not in rb:
                    continue
                sa, sb = ra[against] / ra["your_time"], rb[against] / rb["your_time"]
                diffs.append(abs(sa - sb) / sa * 100)
            if diffs:
                out[f"speedup vs {against.removesuffix('_time')}, {label}, % apart"] = spread(diffs)
    ratio = [b[k]["your_time"] / a[k]["your_time"] for k in sorted(set(a) & set(b))]
    out["candidate time b / a"] = spread(ratio)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
