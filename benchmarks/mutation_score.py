"""The mutation score of the last ``make mutation`` run, per mutated file, from mutmut's own
records (``mutants/**/*.py.meta``: exit status of the tests per mutant; 0 = the tests passed =
the mutant survived). Writes benchmarks/results/mutation.json and prints a table.

    python benchmarks/mutation_score.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# mutmut's exit codes (mutmut.stats.status_by_exit_code): what counts as caught, and what is not
# a result at all. "no tests" (33, 5) counts against the score: no test reaches that code.
CAUGHT = {1, 3, 24, -24, 36, 152, 255, 37, -11, -9}  # killed, timeout, type check, crash
NOT_RESULTS = {None, 2, 34}  # not checked, interrupted, skipped


def scores(mutants: Path) -> dict[str, dict[str, int | float]]:
    found = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        codes = list(json.loads(meta.read_text())["exit_code_by_key"].values())
        checked = [c for c in codes if c not in NOT_RESULTS]
        caught = sum(c in CAUGHT for c in checked)
        name = meta.relative_to(mutants / "src").as_posix().removesuffix(".meta")
        found[name] = {"mutants": len(codes), "checked": len(checked), "survived": sum(c == 0 for c in checked),
                       "no_tests": sum(c in (5, 33) for c in checked),
                       "killed_pct": round(100 * caught / len(checked), 1) if checked else 0.0}  # fmt: skip
    return found


def main() -> int:
    found = scores(ROOT / "mutants")
    if not found:
        print("no mutmut results under mutants/: run make mutation first", file=sys.stderr)
        return 1
    for name, row in found.items():
        print(f"{name:55} {row['checked']:5} checked {row['survived']:4} survived {row['no_tests']:4} without tests "
              f"{row['killed_pct']:5.1f} % killed")
    (ROOT / "benchmarks" / "results" / "mutation.json").write_text(json.dumps(found, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
