"""Build a FlagGems checkout and one operator to import into it in the ops layout (issue 11).

    python benchmarks/upstream/build_checkout.py FLAGGEMS_GIT_DIR EXPERIMENTAL_TREE OUT

``OUT/FlagGems``: FlagGems at HEAD, the parts an operator's test and benchmark need (the package,
``tests/`` and ``benchmark/`` helpers with their conftests, ``conf/``, ``pytest.ini``).
``OUT/ops/frac.json``: FlagGems-Experimental's generated ``frac`` (FlagGems has no ``ops/frac.py``)
with the test in ``frac_test.py`` beside this file; ``OUT/your_perf_data.json``: a claim that
selects it in batch 2. ``EXPERIMENTAL_TREE`` is what ``build.py`` wrote. Nothing of it is committed.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

PATHS = (
    "src/flag_gems", "tests/__init__.py", "tests/conftest.py", "tests/accuracy_utils.py", "benchmark/__init__.py",
    "benchmark/base.py", "benchmark/conftest.py", "benchmark/consts.py", "benchmark/core_shapes.yaml", "conf",
    "pytest.ini",
)  # fmt: skip


def main(git_dir: str, experimental: str, out: str) -> int:
    root = Path(out) / "FlagGems"
    root.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", "HEAD", *PATHS], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(root, filter="data")
    commit = subprocess.run(["git", "--git-dir", git_dir, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    (Path(out) / "COMMIT").write_text(f"FlagGems {commit.stdout.strip()}\n")
    code = (Path(experimental) / "src/flag_gems/experimental_ops/frac.py").read_text()
    test = (Path(__file__).parent / "frac_test.py").read_text()
    ops = Path(out) / "ops"
    ops.mkdir(exist_ok=True)
    (ops / "frac.json").write_text(json.dumps({"op_name": "frac", "code": code, "test_func": test, "category": "pointwise"}))
    claim = {"frac": {"configs": [{"shape": [1024, 1024], "dtype": "float16", "your_time": 0.010, "cuda_time": 0.010}]}}
    (Path(out) / "your_perf_data.json").write_text(json.dumps(claim))
    print(f"FlagGems {commit.stdout.strip()[:12]} -> {root}; operator frac -> {ops}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
