"""How far two sessions' ratios are apart, configuration by configuration, from their session.json
files alone (``relative_to_cuda`` and ``speedup_vs_flaggems``, computed from unrounded times and
rounded to 3 decimals): |a - b| / a in %, median, p95 and max, for configurations decided by graph
replay, split at 20 us (the faster implementation's time), and the operators decided differently.

    python3 benchmarks/gpu/repeat_sessions.py A/session.json[.gz] B/session.json[.gz]
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys


def _load(path: str) -> dict:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as stream:
        return json.load(stream)


def ratios(session: dict) -> dict[tuple, tuple[float, float]]:
    """(op, shape, dtype, against) -> (ratio, the faster implementation's ms), graph-replay rows."""
    found = {}
    for decision in session["decisions"]:
        for row in decision.get("configs") or []:
            spread = row.get("spread", {})
            if row.get("metric") != "cudagraph" or "cudagraph" not in spread.get("your", {}):
                continue
            for other, key in (("cuda", "relative_to_cuda"), ("flaggems", "speedup_vs_flaggems")):
                if row.get(key) and "cudagraph" in spread.get(other, {}) and row.get(f"{other}_time"):
                    at = (decision["op"], tuple(row["shape"]), row["dtype"], other)
                    found[at] = (row[key], min(row["your_time"], row[f"{other}_time"]))
    return found


def apart(a: dict, b: dict, low: float, high: float) -> str:
    gaps = sorted(abs(a[k][0] - b[k][0]) / a[k][0] * 100 for k in a if k in b and low <= a[k][1] < high)
    if not gaps:
        return "none"
    p95 = gaps[min(len(gaps) - 1, int(0.95 * len(gaps)))]
    return f"n {len(gaps)}, median {statistics.median(gaps):.2f} %, p95 {p95:.2f} %, max {gaps[-1]:.1f} %"


def main(first: str, second: str) -> int:
    sessions = [_load(first), _load(second)]
    a, b = (ratios(s) for s in sessions)
    print(f"configurations over 20 us: {apart(a, b, 0.020, float('inf'))}")
    print(f"configurations up to 20 us: {apart(a, b, 0.0, 0.020)}")
    selected = [{d["op"]: d["selected"] for d in s["decisions"]} for s in sessions]
    print("decided differently:", sorted(op for op in selected[0] if selected[0][op] != selected[1].get(op)) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
