"""Where CPU mode's time goes (issue 17): the plugin on operator files, in one process
(``--flaggems-isolate=none``, so one profile sees everything) under cProfile, its self time split
by who spent it. cProfile slows Python-heavy code (the Triton interpreter most): read the shares,
not the seconds.

    python benchmarks/cpu_profile.py OPS_DIR [--out prof.out]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
from collections import Counter

SITE = f"{os.sep}site-packages{os.sep}"
GROUPS = (  # first match wins: (label, substring of the function's file)
    ("the plugin: CUDA-to-CPU mapping (runner/device.py)", "pytest_flaggems_import/runner/device.py"),
    ("the plugin: proof checks (runner/proof.py, dispatch.py)", "pytest_flaggems_import/runner/"),
    ("the plugin: the rest", "pytest_flaggems_import/"),
    ("Triton interpreter (runtime/interpreter.py)", "triton/runtime/interpreter.py"),
    ("Triton language front end (language/*: types, semantic checks)", "triton/language/"),
    ("Triton, other", f"{SITE}triton/"),
    ("inspect (Triton's per-call patching of tl builtins)", "inspect.py"),
    ("numpy", f"{SITE}numpy/"),
    ("torch", f"{SITE}torch/"),
    ("pytest, pluggy", f"{SITE}_pytest/"),
    ("candidate code and its tests", ".json::"),
)


def split(stats: pstats.Stats) -> Counter[str]:
    """Self time (tottime) per group."""
    spent: Counter[str] = Counter()
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename if filename != "~" else name
        label = next((label for label, part in GROUPS if part in where), "other (builtins, C calls)")
        spent[label] += tottime
    return spent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ops")
    parser.add_argument("--out", default="cpu_profile.out")
    args = parser.parse_args(argv)
    import pytest

    profile = cProfile.Profile()
    status = profile.runcall(pytest.main, ["-p", "no:cacheprovider", "-q", f"--flaggems-ops={args.ops}",
                                           "--flaggems-device=cpu", "--flaggems-isolate=none"])  # fmt: skip
    profile.dump_stats(args.out)
    spent = split(pstats.Stats(args.out))
    total = sum(spent.values())
    print(f"\nself time under cProfile, {total:.1f} s in all (pytest exit status {int(status)}):")
    for label, seconds in spent.most_common():
        print(f"  {seconds / total:6.1%}  {seconds:7.1f} s  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
