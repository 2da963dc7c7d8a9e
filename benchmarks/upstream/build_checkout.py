"""Build a FlagGems checkout and one operator to import into it in the ops layout (issue 11).

    python benchmarks/upstream/build_checkout.py FLAGGEMS_GIT_DIR EXPERIMENTAL_TREE OUT

``OUT/FlagGems``: FlagGems at HEAD, the parts an operator's test and benchmark need (the package,
``tests/`` and ``benchmark/`` helpers with their conftests, ``conf/``, ``pytest.ini``).
``OUT/ops/<op>/<op>.json`` for ``hardtanh`` (FlagGems has only ``hardtanh_``) and ``frac`` (FlagGems
has it, in ``ops/frac_.py``: its import must be refused): FlagGems-Experimental's generated code with
the test ``<op>_test.py`` beside this file; ``OUT/your_perf_data.json``: a claim that selects both
in batch 2. ``EXPERIMENTAL_TREE`` is what ``build.py`` wrote. Nothing of it is committed.
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
    claim = {}
    for op in ("hardtanh", "frac"):
        code = (Path(experimental) / f"src/flag_gems/experimental_ops/{op}.py").read_text()
        test = (Path(__file__).parent / f"{op}_test.py").read_text()
        folder = Path(out) / "ops" / op
        folder.mkdir(parents=True, exist_ok=True)
        spec = {"op_name": op, "code": code, "test_func": test, "category": "pointwise"}
        (folder / f"{op}.json").write_text(json.dumps(spec))
        claim[op] = {"configs": [{"shape": [1024, 1024], "dtype": "float16", "your_time": 0.01, "cuda_time": 0.01}]}
    (Path(out) / "your_perf_data.json").write_text(json.dumps(claim))
    print(f"FlagGems {commit.stdout.strip()[:12]} -> {root}; operators hardtanh, frac -> {out}/ops")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
