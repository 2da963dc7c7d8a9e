"""Where a gate check's own time goes, outside its waits for the GPU (issue 17: the gate's 60
checks are the end of the 100x4x3 run's critical path; ~3 s of cases and ~1.5 s of comparing
each, docs/benchmarks.md).

    python3 benchmarks/gpu/gate_profile.py CORPUS_DIR OUT_DIR [OP ...]

For each operator (default: five of the flag-gems corpus), in this one process, nothing else on
the GPU: ``runner.gate.run`` on the cases a 1024² and 4096² x fp16/fp32 perf file gives (first
call: Triton compiles; then again, warm), then ``runner.gate.compare``; the wall of each, the
outputs file's size, and cProfile's top functions of the warm run and of the comparison
(``OUT_DIR/<op>.txt``).
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import sys
import time
from pathlib import Path

import torch

from pytest_flaggems_import.runner import gate

OPS = ("abs", "addcdiv", "maximum", "mse_loss", "log10_")
CONFIGS = [([1024, 1024], "float16"), ([1024, 1024], "float32"), ([4096, 4096], "float16"), ([4096, 4096], "float32")]


def timed(fn, *args):
    torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn(*args)
    torch.cuda.synchronize()
    return time.perf_counter() - start, result


def top(profile: cProfile.Profile, key: str, n: int = 25) -> str:
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats(key).print_stats(n)
    return text.getvalue()


def main() -> int:
    corpus, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    cases = gate.cases(CONFIGS, "cuda")
    summary = {"cases": len(cases)}
    for op in sys.argv[3:] or OPS:
        operator, outputs = corpus / f"{op}.json", out / f"{op}.pt"
        cold, _ = timed(gate.run, operator, "cuda", cases, outputs)
        run_profile = cProfile.Profile()
        warm, _ = timed(run_profile.runcall, gate.run, operator, "cuda", cases, outputs)
        compare_profile = cProfile.Profile()
        compared, verdict = timed(compare_profile.runcall, gate.compare, operator, "cuda", cases, outputs)
        summary[op] = {"run_cold_s": cold, "run_warm_s": warm, "compare_s": compared,
                       "outputs_mb": outputs.stat().st_size / 1e6, "checked": verdict.get("checked"),
                       "wrong": len(verdict.get("wrong", []))}  # fmt: skip
        (out / f"{op}.txt").write_text("\n".join([
            f"{op}: {json.dumps(summary[op])}", "== run (warm), by cumulative time", top(run_profile, "cumulative"),
            "== run (warm), by own time", top(run_profile, "tottime"), "== compare, by cumulative time",
            top(compare_profile, "cumulative"), "== compare, by own time", top(compare_profile, "tottime")]))  # fmt: skip
        outputs.unlink()
        print(op, json.dumps(summary[op]), flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
