"""What FlagGems' first calls cost inside a benchmark's time alone on the GPU (issue 17), and
which of its implementations tune themselves (``bench.flaggems_tunes``).

    python3 benchmarks/gpu/flaggems_first_calls.py CORPUS_DIR OUT.json     (cold TRITON_CACHE_DIR, fresh HOME)

For each corpus operator the installed FlagGems implements, at 1024² and 4096² x fp16/fp32 (the
inputs ``bench.checked_inputs`` makes): wall of FlagGems' first and second synchronised call
under ``use_gems()``, and whether ``bench.flaggems_tunes`` says its first call may time configs.
Also the cost of entering and leaving ``use_gems()`` (``bench.measure`` enters it twice per
configuration).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import flag_gems
import torch

from pytest_flaggems_import.runner import bench

sys.path.insert(0, str(Path(__file__).parent))
from steady_compare import CONFIGS, load  # noqa: E402


def synced_wall(call) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    call()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> int:
    corpus, out = Path(sys.argv[1]), Path(sys.argv[2])
    entering = []
    for _ in range(5):
        start = time.perf_counter()
        with flag_gems.use_gems():
            pass
        entering.append(time.perf_counter() - start)
    registered = bench.flaggems_ops()
    rows = []
    for path in sorted(corpus.glob("*.json")):
        try:
            candidate, name, params = load(path)
        except Exception as exc:  # noqa: BLE001
            print(f"{path.stem}: not loaded ({type(exc).__name__})", flush=True)
            continue
        if not bench.flaggems_implements(name, registered):
            continue
        tunes = bench.flaggems_tunes(name)
        for config in CONFIGS:
            try:
                reference, args, kwargs = bench.inputs_for(name, config, "cuda", params, None)
            except Exception as exc:  # noqa: BLE001
                rows.append({"op": path.stem, "config": config.id, "error": f"inputs: {type(exc).__name__}"})
                continue
            walls = []
            try:
                with flag_gems.use_gems():
                    for _ in range(2):
                        copies = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
                        walls.append(synced_wall(lambda c=copies, f=reference, k=kwargs: f(*c, **k)))
            except Exception as exc:  # noqa: BLE001
                rows.append({"op": path.stem, "config": config.id, "tunes": tunes, "error": type(exc).__name__})
                continue
            rows.append({"op": path.stem, "config": config.id, "tunes": tunes, "first_s": walls[0], "second_s": walls[1]})
        print(f"{path.stem}: tunes={tunes} first={[round(r.get('first_s', -1), 3) for r in rows[-4:]]}", flush=True)
    timed = [r for r in rows if "first_s" in r]
    summary = {
        "use_gems_enter_exit_s": {"median": statistics.median(entering), "first": entering[0]},
        "ops": len({r["op"] for r in rows}),
        "ops_tuning": sorted({r["op"] for r in rows if r.get("tunes")}),
        "first_calls_s": {
            "not tuning": sum(r["first_s"] for r in timed if not r["tunes"]),
            "tuning": sum(r["first_s"] for r in timed if r["tunes"]),
        },
        "second_calls_s": sum(r["second_s"] for r in timed),
        "errors": [r for r in rows if "error" in r],
    }
    print(json.dumps(summary, indent=1))
    out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
