"""Two sessions' measured speedups, configuration by configuration: how far apart they are
(median, p95, max of |a - b| / a, in %), and whether every decision is the same. Each folder is
a --flaggems-report-dir with the run's --flaggems-regen files in ``regen/`` (unrounded times;
session.json rounds to 0.001 ms, too coarse for a 5 us configuration).

    python3 benchmarks/gpu/compare_sessions.py A_DIR B_DIR [--exclude OP,OP]

"configs > 20 us" counts a configuration whose torch time is over 20 us (as every figure recorded
before 2026-11-26's REPLAY_MS change did); "faster side > 20 us" one where the faster of the two
implementations compared is, without the operators given to ``--exclude`` (e.g. ``lift``, an
alias whose torch time is ~0, and ``fft_ifftshift``, whose candidate's own time moves between
sessions).
"""

from __future__ import annotations

import argparse
import json
import statistics
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
    parser = argparse.ArgumentParser()
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--exclude", default="", help="operators left out of 'faster side > 20 us'")
    given = parser.parse_args()
    excluded = set(filter(None, given.exclude.split(",")))
    (a, decided_a), (b, decided_b) = rows(given.a), rows(given.b)
    timing = {k: json.loads((Path(p) / "session.json").read_text()).get("timing") for k, p in zip("ab", (given.a, given.b), strict=True)}
    out = {"same decisions": decided_a == decided_b, "timing": timing}
    for against in ("cuda_time", "flaggems_time"):
        kept = (("all", lambda key, r: True), ("configs > 20 us", lambda key, r: r["cuda_time"] > 0.020),
                ("faster side > 20 us", lambda key, r, against=against: key[0] not in excluded and min(r["your_time"], r[against]) > 0.020))  # fmt: skip
        for label, keep in kept:
            diffs = []
            for key in sorted(set(a) & set(b)):
                ra, rb = a[key], b[key]
                if against not in ra or against not in rb or not keep(key, ra):
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
