"""Build the upstream fidelity corpus: FlagGems-Experimental's generated operators with their
maintainers' unit tests, as operator files the plugin screens (issue 11).

    python benchmarks/upstream/build.py GIT_DIR OUT [REV]

``GIT_DIR`` is a clone (or bare mirror) of flagos-ai/FlagGems-Experimental. ``OUT`` gets that
commit's ``src/flag_gems``, ``tests/`` helpers and ``experimental_tests/unit`` (for the direct
run), and ``experimental_tests/operators/<op>.json`` (for the plugin run): ``code`` is
``src/flag_gems/experimental_ops/<op>.py``, ``test_func`` is ``experimental_tests/unit/<op>_test.py``,
both unchanged. The operator files sit at the depth of the test files, so a test's
``sys.path.insert(0, dirname(__file__) + "/../..")`` finds the same ``tests.accuracy_utils`` in
both runs. ``REV`` (default ``HEAD``) picks the commit; the generated operators and their tests
are the same from 839e1087 to ef794b3 (head on 2026-11-26), but from 60cc9981 on, ``import
flag_gems`` fails there (``legendre_polynomial_p`` is exported and never defined), so the GPU run
builds from 839e1087. Nothing of it is committed: it is built where it runs, from the fetched repository.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

PATHS = (
    "src/flag_gems",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/accuracy_utils.py",
    "experimental_tests/unit",
)


def export(git_dir: Path, out: Path, rev: str) -> str:
    """Unpack the tree's ``PATHS`` at ``rev`` into ``out``; the commit's hash."""
    git = ["git", "--git-dir", str(git_dir)]
    commit = subprocess.run([*git, "rev-parse", f"{rev}^{{commit}}"], capture_output=True, text=True, check=True)
    archive = subprocess.run([*git, "archive", commit.stdout.strip(), *PATHS], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(out, filter="data")
    return commit.stdout.strip()


def operator_files(out: Path) -> list[str]:
    """One operator file per unit test whose operator module exists; the op names written."""
    ops_dir = out / "experimental_tests" / "operators"
    ops_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for test in sorted((out / "experimental_tests" / "unit").glob("*_test.py")):
        op = test.name.removesuffix("_test.py")
        code = out / "src" / "flag_gems" / "experimental_ops" / f"{op}.py"
        if not code.is_file():
            continue
        record = {
            "op_name": op,
            "code": code.read_text(),
            "test_func": test.read_text(),
            "info": {"source": "FlagGems-Experimental"},
        }
        (ops_dir / f"{op}.json").write_text(json.dumps(record, indent=1))
        written.append(op)
    return written


def main(argv: list[str]) -> int:
    git_dir, out = Path(argv[0]), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    commit = export(git_dir, out, argv[2] if len(argv) > 2 else "HEAD")
    ops = operator_files(out)
    (out / "COMMIT").write_text(f"FlagGems-Experimental {commit}\n")
    print(f"{len(ops)} operators from FlagGems-Experimental {commit[:12]} -> {out}/experimental_tests/operators")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
