"""Why an operator was "wrong at benchmark shape": its check at one configuration, as a benchmark
item makes it (the same seeded inputs, ``bench.checked_inputs``), and the inputs and outputs at
the elements that differ most.

    python3 benchmarks/gpu/wrong_at_shape.py OPERATOR.json DTYPE SHAPE   (e.g. float16 4096x4096)
"""

from __future__ import annotations

import sys
from pathlib import Path

from pytest_flaggems_import.runner import bench

sys.path.insert(0, str(Path(__file__).parent))
from steady_compare import load  # noqa: E402


def main(path: str, dtype: str, shape: str) -> None:
    candidate, name, params = load(Path(path))
    config = bench.BenchConfig(tuple(int(n) for n in shape.split("x")), dtype)
    try:
        bench.checked_inputs(candidate, name, config, "cuda", params)
        print("passes its check at", config.id)
        return
    except bench.WrongResult as exc:
        print(exc)
    reference, args, kwargs = bench.inputs_for(name, config, "cuda", params, None)
    got = candidate(*[a.clone() for a in args], **kwargs)
    want = reference(*[a.double() for a in args], **kwargs).to(got.dtype)
    tol = bench.tolerance(dtype)
    same = (got == want) | (got.isnan() & want.isnan())  # infinities too, as assert_close has it
    bad = ~same & ~((got.double() - want.double()).abs() <= tol + tol * want.double().abs())
    print(f"{int(bad.sum())} of {bad.numel()} elements differ")
    for index in bad.nonzero()[:8].tolist():
        at = tuple(index)
        inputs = ", ".join(f"{float(a[at])!r}" for a in args)
        print(f"  at {at}: inputs ({inputs}) -> candidate {float(got[at])!r}, torch {float(want[at])!r}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
