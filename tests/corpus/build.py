"""Turn the generated operators of a flag-gems wheel into operator JSON files with a generic test.

The flag-gems 5.0.2 wheel on PyPI ships ~100 generated operators in ``flag_gems/experimental_ops``
but no tests for them in the wheel. For each one we write an operator file whose ``test_func``
compares the entry function with ``torch.ops.aten.<op>`` on inputs synthesised from the ATen
schema. Ops whose schema needs arguments we cannot invent (sizes, dims, ...) are still collected;
their test fails with "cannot synthesise", which is counted apart in the docs.

    python -m tests.corpus.build WHEEL_OR_DIR OUT_DIR
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

GENERIC_TEST = """\
import pytest
import torch

from flag_gems.experimental_ops.{entry} import {entry} as candidate

REFERENCE = "{aten}"


def _reference():
    base, _, overload = REFERENCE.partition(".")
    packet = getattr(torch.ops.aten, base, None)
    if packet is None:
        pytest.fail(f"cannot synthesise: no aten op {{base}}")
    return getattr(packet, overload or "default")


def _inputs(ref, dtype):
    args = []
    for arg in ref._schema.arguments:
        if arg.kwarg_only or arg.has_default_value():
            break
        kind = str(arg.type)
        if kind == "Tensor":
            # (0.5, 2.0): inside the domain of log, sqrt, reciprocal; NaN elsewhere is compared as NaN.
            args.append((torch.rand(16, 33, device="cuda") * 1.5 + 0.5).to(dtype))
        elif kind in ("Scalar", "float"):
            args.append(0.75)
        else:
            pytest.fail(f"cannot synthesise: argument {{arg.name}} of type {{kind}}")
    return args


@pytest.mark.parametrize("dtype", [torch.float32])
def test_{stem}_matches_aten(dtype):
    torch.manual_seed(0)
    ref = _reference()
    args = _inputs(ref, dtype)
    expected = ref(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args])
    actual = candidate(*args)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4, equal_nan=True, check_dtype=False)
"""


def op_name(stem: str, code: str) -> str:
    """``multiply.py`` defines ``multiply_Tensor``: its op is ``aten::multiply.Tensor`` (SPEC §2)."""
    if f"def {stem}(" not in code:
        for overload in ("Tensor", "Scalar", "default"):
            if f"def {stem}_{overload}(" in code:
                return f"aten::{stem}.{overload}"
    return f"aten::{stem}"


def build(source: Path, out: Path) -> list[Path]:
    """``source``: a wheel, or a folder that holds ``flag_gems/experimental_ops``."""
    files = {}
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            for name in wheel.namelist():
                if name.startswith("flag_gems/experimental_ops/") and name.endswith(".py"):
                    files[Path(name).stem] = wheel.read(name).decode()
    else:
        for path in (source / "flag_gems" / "experimental_ops").glob("*.py"):
            files[path.stem] = path.read_text()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, code in sorted(files.items()):
        if stem.startswith("__"):
            continue
        name = op_name(stem, code)
        entry = name.removeprefix("aten::").replace(".", "_")
        data = {
            "op_name": name,
            "code": code,
            "test_func": GENERIC_TEST.format(stem=entry, entry=entry, aten=name.removeprefix("aten::")),
            "info": {"source": "flag-gems 5.0.2 wheel, flag_gems/experimental_ops"},
        }
        path = out / f"{stem}.json"
        path.write_text(json.dumps(data, indent=1))
        written.append(path)
    return written


def download_wheel(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(folder.glob("flag_gems-5.0.2-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "flag-gems==5.0.2",
                        "-d", str(folder)], check=True)  # fmt: skip
        found = sorted(folder.glob("flag_gems-5.0.2-*.whl"))
    return found[0]


if __name__ == "__main__":
    print(len(build(Path(sys.argv[1]), Path(sys.argv[2]))), "operator files written")
