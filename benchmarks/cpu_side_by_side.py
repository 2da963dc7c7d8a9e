"""CPU mode against a direct run of the same tests, side by side (issue 17).

    python benchmarks/cpu_side_by_side.py UPSTREAM OUT [--workers 2] [--ops a,b,c] [--order direct,plugin]

UPSTREAM is the tree ``benchmarks/upstream/build.py`` writes (FlagGems-Experimental's
``experimental_tests/unit`` and the operator files built from it, ``experimental_tests/operators``).
Both runs go through Triton's interpreter (``TRITON_INTERPRET=1``), with the same ``-n`` and a cold
Triton cache each, in copies under OUT:

- *direct*: ``pytest experimental_tests/unit -n N`` with the plugin switched off and a minimal
  stand-in: a ``conftest.py`` that puts the plugin's FlagGems stand-in first on the path (the real
  ``flag_gems`` needs a GPU to import), with the device name ``cpu``, and maps
  ``flag_gems.experimental_ops`` to the upstream operators' source folder, and the plugin's
  CUDA-to-CPU mapping (``runner.device.emulate_cuda``) around each test (the operators check
  ``is_cuda``; the plugin enters it once per operator);
- *plugin*: ``pytest --flaggems-ops=experimental_tests/operators --flaggems-device=cpu -n N``
  (isolation, proof checks, everything a screening run does, without benchmarks).

OUT gets ``walls.json`` (wall seconds, the machine's load average before and after each run, the
pytest summary line), both junit files, both logs and ``compare.txt`` (per-test outcomes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STANDINS = ROOT / "src" / "pytest_flaggems_import" / "runner" / "standins"

# The direct run's stand-in. The upstream tests `import flag_gems` and
# `from flag_gems.experimental_ops.<op> import <fn>`; FlagGems' own package `__init__` would import
# every operator, so the folder is mapped as a bare package instead.
DIRECT_CONFTEST = f"""\
import sys, types
import pytest
sys.path.insert(0, {str(STANDINS)!r})
import flag_gems
package = types.ModuleType("flag_gems.experimental_ops")
package.__path__ = [{{ops!r}}]
sys.modules["flag_gems.experimental_ops"] = package
flag_gems.experimental_ops = package
from pytest_flaggems_import.runner import device


@pytest.fixture(autouse=True)
def _cuda_on_cpu():
    with device.emulate_cuda():
        yield
"""


def _load() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def _timed(name: str, args: list[str], cwd: Path, out: Path, env: dict[str, str]) -> dict[str, object]:
    """One pytest run: wall seconds, load before and after, its last line."""
    log = out / f"{name}.log"
    before, start = _load(), time.perf_counter()
    with log.open("w") as stream:
        rc = subprocess.call([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
                             cwd=cwd, env=env, stdout=stream, stderr=subprocess.STDOUT)  # fmt: skip
    wall = time.perf_counter() - start
    last = (log.read_text().strip().splitlines() or [""])[-1]
    row = {"rc": rc, "wall_s": round(wall, 1), "load_before": before, "load_after": _load(), "summary": last}
    print(f"{name}: {row}", flush=True)
    return row


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ, TRITON_INTERPRET="1", FLAGGEMS_STANDIN_DEVICE="cpu", TRITON_CACHE_DIR=str(cache))
    env.pop("PYTHONPATH", None)
    return env


def _copy(upstream: Path, where: Path, ops: list[str] | None) -> None:
    """The upstream tests and operator files, only OPS' when given."""
    for folder, pattern in (("unit", "{}_test.py"), ("operators", "{}.json")):
        source, target = upstream / "experimental_tests" / folder, where / "experimental_tests" / folder
        target.mkdir(parents=True)
        names = [pattern.format(op) for op in ops] if ops else [p.name for p in source.iterdir()]
        for name in names:
            shutil.copy(source / name, target / name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("upstream", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--workers", default="2")
    parser.add_argument("--ops", help="comma-separated operator names (default: all)")
    parser.add_argument("--order", default="direct,plugin")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    ops = options.ops.split(",") if options.ops else None
    work = Path(tempfile.mkdtemp(prefix="cpu-side-by-side-"))
    _copy(options.upstream.resolve(), work, ops)
    source_ops = options.upstream.resolve() / "src" / "flag_gems" / "experimental_ops"
    (work / "experimental_tests" / "unit" / "conftest.py").write_text(DIRECT_CONFTEST.format(ops=str(source_ops)))
    n = ["-n", options.workers]
    runs = {
        "direct": ["experimental_tests/unit", *n, "-p", "no:flaggems_import",
                   f"--junitxml={options.out / 'direct.xml'}"],
        "plugin": ["--flaggems-ops=experimental_tests/operators", "--flaggems-device=cpu", *n,
                   "--flaggems-timeout=900", f"--flaggems-report-dir={work / 'report'}",
                   f"--junitxml={options.out / 'plugin.xml'}"],
    }  # fmt: skip
    walls = {"cpus": os.cpu_count(), "workers": options.workers, "operators": ops or "all", "runs": {}}
    for name in options.order.split(","):
        cache = work / f"triton-cache-{name}"
        walls["runs"][name] = _timed(name, runs[name], work, options.out, _env(cache))
    (options.out / "walls.json").write_text(json.dumps(walls, indent=1) + "\n")
    compare = [sys.executable, str(ROOT / "benchmarks" / "upstream" / "compare.py"),
               str(options.out / "direct.xml"), str(options.out / "plugin.xml")]  # fmt: skip
    with (options.out / "compare.txt").open("w") as stream:
        subprocess.call(compare, stdout=stream, stderr=subprocess.STDOUT)
    print((options.out / "compare.txt").read_text().split("\n  differs")[0])
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
