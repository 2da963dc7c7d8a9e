"""Summarise the committed GPU runs into the Markdown tables of docs/benchmarks.md.

python3 benchmarks/gpu/summarize.py > docs/gpu-results.md
"""

from __future__ import annotations

import json
import statistics
import xml.etree.ElementTree as ET
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"
RUN1, RUN2 = RESULTS / "gpu-bench-run1", RESULTS / "gpu-bench-run2"


def rows(run: Path) -> dict[tuple, dict]:
    data = json.loads((run / "your_perf_data.json").read_text())
    return {(op, tuple(c["shape"]), c["dtype"]): c["spread"] for op, e in data.items() for c in e["configs"]}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def line(name: str, xs: list[float]) -> str:
    return f"| {name} | {len(xs)} | {100 * statistics.median(xs):.2f} % | {100 * pct(xs, 0.95):.2f} % |"


def repeatability() -> list[str]:
    a, b = rows(RUN1), rows(RUN2)
    out = [
        "| speedup vs FlagGems, metric and size | configs | median change | p95 change |",
        "| --- | --- | --- | --- |",
    ]
    for mode in ("kernel", "cudagraph"):
        big, small = [], []
        for key in a.keys() & b.keys():
            if "flaggems" not in a[key] or "flaggems" not in b[key]:
                continue
            sa = a[key]["flaggems"][mode]["p50"] / a[key]["your"][mode]["p50"]
            sb = b[key]["flaggems"][mode]["p50"] / b[key]["your"][mode]["p50"]
            (big if a[key]["your"][mode]["p50"] > 0.020 else small).append(abs(sa / sb - 1))
        out += [line(f"`{mode}`, configs > 20 us", big), line(f"`{mode}`, configs <= 20 us", small)]
    return out


def agreement() -> list[str]:
    bare = json.loads((RUN2 / "bare.json").read_text())
    plugin = rows(RUN2)
    out = [
        "| timing (candidate and torch) | values | median difference | p95 difference |",
        "| --- | --- | --- | --- |",
    ]
    for mode in ("kernel", "cudagraph"):
        big, small = [], []
        for r in bare["rows"]:
            spread = plugin[(r["op"], tuple(r["shape"]), r["dtype"])]
            for impl in ("your", "cuda"):
                diff = abs(spread[impl][mode]["p50"] / r[f"{impl}_{mode}"] - 1)
                (big if spread[impl][mode]["p50"] > 0.020 else small).append(diff)
        out += [line(f"`{mode}`, > 20 us", big), line(f"`{mode}`, <= 20 us", small)]
    return out


def cost() -> list[str]:
    bare = json.loads((RUN2 / "bare.json").read_text())
    tree = ET.parse(RUN2 / "junit.xml")
    cases = list(tree.iter("testcase"))
    bench = [float(c.get("time")) for c in cases if c.get("name", "").startswith("bench[")]
    ops = {c.get("classname") for c in cases if c.get("name", "").startswith("bench[")}
    return [
        "| what | seconds |", "| --- | --- |",
        f"| bare `triton.testing` script, same measurements ({len(bare['rows'])} configs) | {bare['wall_s']:.1f} |",
        f"| plugin bench items ({len(bench)} items, {len(ops)} operators) | {sum(bench):.1f} |",
        f"| plugin overhead on the measurements | {100 * (sum(bench) / bare['wall_s'] - 1):+.1f} % |",
        f"| per operator (bench items only) | {sum(bench) / len(ops):.1f} |",
    ]  # fmt: skip


def per_config() -> list[str]:
    out = [
        "| op | dtype | shape | yours (kernel / graph, us) | FlagGems (kernel / graph, us) | torch (kernel / graph, us) | speedup vs FlagGems kernel / graph |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (op, shape, dtype), s in sorted(rows(RUN2).items()):

        def t(impl: str, s: dict = s) -> str:
            return (
                f"{1e3 * s[impl]['kernel']['p50']:.1f} / {1e3 * s[impl]['cudagraph']['p50']:.1f}" if impl in s else "-"
            )

        speed = "-"
        if "flaggems" in s:
            k = s["flaggems"]["kernel"]["p50"] / s["your"]["kernel"]["p50"]
            g = s["flaggems"]["cudagraph"]["p50"] / s["your"]["cudagraph"]["p50"]
            speed = f"{k:.2f}x / {g:.2f}x"
        shape_text = "x".join(map(str, shape))
        out.append(f"| `{op}` | {dtype} | {shape_text} | {t('your')} | {t('flaggems')} | {t('cuda')} | {speed} |")
    return out


if __name__ == "__main__":
    for title, table in (("Repeatability (run 1 vs run 2)", repeatability()), ("Agreement with a bare script", agreement()),
                         ("Cost", cost()), ("Per configuration (run 2, medians of 5 rounds)", per_config())):  # fmt: skip
        print(f"### {title}\n")
        print("\n".join(table))
        print()
