"""Which of a mutation run's survivors the tests written since kill (issue 18).

mutmut's incremental runs do not re-test survivors against new tests. This reruns chosen tests
against each survivor directly: mutmut's ``mutants/src`` holds every mutant behind a trampoline
that ``MUTANT_UNDER_TEST`` switches on, so ``PYTHONPATH=mutants/src MUTANT_UNDER_TEST=<name>
pytest TESTS`` runs TESTS against that one mutant. A survivor is killed when a test that passes
on the unmutated code (``MUTANT_UNDER_TEST`` empty; tests of bugs fixed since fail there and are
left out) fails on it.

    mutmut results > results.txt   # in the mutation run's checkout
    python benchmarks/mutation_recheck.py CHECKOUT/mutants results.txt NAME_PART TESTS... [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def survivors(results: Path, part: str) -> list[str]:
    names = re.findall(r"^\s*(\S+): survived$", results.read_text(), re.MULTILINE)
    return [name for name in names if part in name]


def failing(mutants: Path, mutant: str, tests: list[str], deselect: list[str]) -> list[str]:
    """The node ids that fail with ``mutant`` active ('' for none)."""
    env = {**os.environ, "PYTHONPATH": str(mutants / "src"), "MUTANT_UNDER_TEST": mutant}
    extra = [arg for nodeid in deselect for arg in ("--deselect", nodeid)]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "-rf", *(["-x"] if mutant else []), *extra, *tests],
                          env=env, capture_output=True, text=True)  # fmt: skip
    return re.findall(r"^FAILED (\S+)", done.stdout, re.MULTILINE) or (["(error)"] if done.returncode not in (0, 1, 5) else [])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mutants", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("part", help="a part of the mutant names to recheck, e.g. importer.pull_requests.x_groups")
    parser.add_argument("tests", nargs="+")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    baseline = failing(args.mutants, "", args.tests, [])
    if "(error)" in baseline:
        print("the tests do not run on the unmutated code (collection error, bad arguments?)", file=sys.stderr)
        return 2
    names = survivors(args.results, args.part)
    with ThreadPoolExecutor(args.jobs) as pool:
        verdicts = list(pool.map(lambda n: failing(args.mutants, n, args.tests, baseline), names))
    killed = [n for n, failed in zip(names, verdicts, strict=True) if failed]
    for name, failed in zip(names, verdicts, strict=True):
        print(f"{'killed  ' if failed else 'survives'} {name}" + (f"  by {failed[0]}" if failed else ""))
    print(f"{args.part}: {len(killed)} of {len(names)} survivors killed by {' '.join(args.tests)}"
          + (f" (left out, failing on the unmutated code: {baseline})" if baseline else ""))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
