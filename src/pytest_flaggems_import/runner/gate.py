"""The tool's own correctness gate (SPEC 8): the entry against ATen on the tool's inputs, out of
the reach of the candidate's tests.

An operator's tests are its author's evidence, and they run in a worker its code controls. So for
each operator about to be selected, two processes check it:

1. ``run``: a fresh process per operator; loads only the operator's code (never ``test_func``),
   calls the entry on inputs made from a seed, and saves the outputs (``torch.save``) to a file;
2. ``compare``: never loads candidate code; makes the same inputs from the same seed, computes the
   ATen reference (in float64 where the dtype is floating), reads the outputs back with
   ``torch.load(weights_only=True)`` and compares them with FlagGems' per-dtype tolerances. It
   runs no candidate code, so a warm process (``serve``, a referee) compares one operator after
   another (runner.gatekeeper), sparing a torch start per operator.

The cases: each dtype of the perf file (float32 when it names none), its shapes (on the CPU only
those up to 64K elements), an odd size (1023), a non-contiguous view (7x33, transposed), and the
degenerate shapes: empty, one element; two seeds (one above 1M elements). The reference is the
ATen op the operator implements (``relu_v2``: ``aten::relu``).
Inputs come from the op's ATen schema: a tensor per ``Tensor`` argument, 0.75 per
``Scalar``/``float``; an op whose schema needs anything else cannot be checked here (reported, not
held against it; the referee decides that from the schema, never from what the candidate's
process writes or prints). Inputs are made on the device from the seed, in both processes.
Wrong values block the operator: outside FlagGems' tolerance of both the float64 reference and
ATen's own result in the operator's dtype (an ill-conditioned op such as erfinv near ±1 differs
from float64 by more than the tolerance, and so does ATen), except on the degenerate
shapes (empty, one element), where ATen's conventions (the mean of nothing is NaN) are not every
generated op's. An exception blocks it on a shape and dtype the perf file claims; elsewhere (a
non-contiguous input, say) an explicit refusal is a limit, reported as such.

The first process is confined as a worker is (``runner.confine.Confinement``): a scratch
working directory and ``HOME``, ``--flaggems-max-memory``, ``--flaggems-sandbox``. The cases
reach both processes on their standard input, from the deciding process's memory: no file the
candidate's process could rewrite decides what the second one checks.

Both hold their GPU shared (runner.gpu_lock), as tests do: a gate started while other operators
are being timed waits for the measurement, never overlaps it.

    python -m pytest_flaggems_import.runner.gate run DEVICE [MAX_MEMORY] < {"operator", "out", "cases"}
    python -m pytest_flaggems_import.runner.gate serve DEVICE < REQUESTS  (one JSON line each)
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

DEGENERATE_SHAPES: tuple[tuple[int, ...], ...] = ((0,), (1,))  # wrong values there are reported, not held against it
ODD_SHAPE = (1023,)
NONCONTIGUOUS = (7, 33)  # made as a (33, 7) tensor, transposed
SEEDS = (0, 1)
# Larger shapes get the first seed only: a second draw of millions of values samples nothing new,
# and it doubled what each check computes, copies to the host and compares (~200 MB for a unary
# op at 4096² fp16 and fp32; docs/benchmarks.md).
TWO_SEEDS_UP_TO = 1 << 20
CPU_MAX_ELEMENTS = 1 << 16
RESOLUTION = {"float16": 1e-3, "bfloat16": 0.016, "float32": 1.3e-6, "float64": 1e-7}  # FlagGems' table


def cases(configs: list[tuple[list[int], str]], device: str) -> list[dict[str, Any]]:
    """The gate's cases for an operator whose perf file lists ``configs`` (shape, dtype)."""
    dtypes = sorted({dtype for _, dtype in configs if dtype in RESOLUTION}) or ["float32"]
    shapes = [tuple(shape) for shape, _ in configs]
    if device != "cuda":
        shapes = [s for s in shapes if _numel(s) <= CPU_MAX_ELEMENTS]
    claimed = set(shapes)
    out = []
    for dtype in dtypes:
        for shape in [*dict.fromkeys(shapes), ODD_SHAPE, NONCONTIGUOUS, *DEGENERATE_SHAPES]:
            for seed in SEEDS if _numel(shape) <= TWO_SEEDS_UP_TO else SEEDS[:1]:
                out.append({"shape": list(shape), "dtype": dtype, "seed": seed, "claimed": shape in claimed,
                            "strict": shape in claimed or shape not in DEGENERATE_SHAPES,
                            "contiguous": shape != NONCONTIGUOUS})  # fmt: skip
    return out


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _reference(op_name: str) -> Any:
    from pytest_flaggems_import.core.names import parse_op_name
    from pytest_flaggems_import.runner.bench import aten_overload

    name = parse_op_name(op_name).versionless()
    overload = aten_overload(name)
    if overload is None:
        raise LookupError(f"no ATen op {name.qualified}")
    return overload


def checkable(op_name: str, first_case: dict[str, Any]) -> Any:
    """The ATen reference the gate checks ``op_name`` against; LookupError when there is none or
    its schema needs inputs the gate cannot make (decided from the name alone, never the code)."""
    op = _reference(op_name)
    make_inputs(op, first_case, "cpu")
    return op


def make_inputs(op: Any, case: dict[str, Any], device: str) -> list[Any]:
    """The positional inputs of ``op`` for ``case``, made on ``device`` from the case's seed (the
    same in both processes: same device, same torch); LookupError when the schema needs more."""
    import torch

    generator = torch.Generator(device=device).manual_seed(case["seed"])
    dtype = getattr(torch, case["dtype"])
    args: list[Any] = []
    for arg in op._schema.arguments:
        if arg.kwarg_only or arg.has_default_value():
            break
        kind = str(arg.type)
        if kind == "Tensor":
            shape = case["shape"] if case["contiguous"] else list(reversed(case["shape"]))
            value = torch.randn(shape, generator=generator, dtype=torch.float32, device=device).to(dtype)
            args.append(value if case["contiguous"] else value.t())
        elif kind in ("Scalar", "float"):
            args.append(0.75)
        else:
            raise LookupError(f"cannot make an input for argument {arg.name} of type {kind}")
    return args


def _tensors(value: Any) -> list[Any]:
    import torch

    items = value if isinstance(value, (tuple, list)) else (value,)
    return [v for v in items if isinstance(v, torch.Tensor)]


def run(operator: Path, device: str, all_cases: list[dict[str, Any]], out: Path) -> None:
    """Process 1: the candidate's outputs (or what it raised) per case, saved to ``out``; then,
    on stdout, how long the cases took and how much of that was Triton compiling (for
    session.json's timing; nothing decides on it)."""
    import time

    import torch

    from pytest_flaggems_import.core import formats
    from pytest_flaggems_import.runner import device as devices
    from pytest_flaggems_import.runner import gpu_lock, isolate
    from pytest_flaggems_import.runner.compile_clock import CompileClock

    devices.prepare_process(device)
    spec = formats.load_operator(operator)
    try:
        op = checkable(spec.name.qualified, all_cases[0])
    except LookupError:
        return  # nothing to run: the referee finds the same and says so
    clock, started = CompileClock(), time.perf_counter()
    waited_before = gpu_lock.waited_in_process()  # not the spare's waits while it warmed up
    clock.install()
    gpu_lock.step_aside_while_compiling(device)  # as in the workers: no measurement waits for a compile
    results: list[Any] = []
    lock = gpu_lock.for_device(device)
    with devices.device_context(device):
        module = isolate.load_code(spec, spec.category or "misc")
        entry = isolate.entry_function(module, spec)
        # The GPU held shared for the whole check, let go while a kernel compiles (seconds):
        # a measurement waiting for it waits for the cases' small kernels only. (Taken case by
        # case instead, each of the 24 cases queued again behind every measurement.)
        with lock.sharing():
            for case in all_cases:
                results.append(_candidate_result(entry, op, case, spec.params, device))
    torch.save(results, out)
    print(json.dumps({"cases_s": time.perf_counter() - started, "compile_s": clock.take()[0],
                      "wait_s": gpu_lock.waited_in_process() - waited_before}))  # fmt: skip


def _candidate_result(entry: Any, op: Any, case: dict[str, Any], params: dict[str, Any], device: str) -> dict[str, Any]:
    from pytest_flaggems_import.runner import device as devices

    args = make_inputs(op, case, device)  # the schema was found to take these before the code loaded
    try:
        value = entry(*args, **params)
        return {"outputs": [t.detach().to("cpu").clone() for t in _tensors(value)]}
    except Exception as exc:  # noqa: BLE001 - what it raises is the finding
        return {"raised": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    finally:
        with contextlib.suppress(Exception):  # a broken context shows in the next case's result
            devices.synchronize(device)  # nothing of this case still runs once the lock is let go


def compare(operator: Path, device: str, all_cases: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """Process 2: the verdict (never loads candidate code)."""
    import torch

    from pytest_flaggems_import.core import formats
    from pytest_flaggems_import.runner import device as devices
    from pytest_flaggems_import.runner import gpu_lock
    from pytest_flaggems_import.runner.bench import aten_params

    spec = formats.load_operator(operator)
    verdict: dict[str, Any] = {"checked": 0, "wrong": [], "raised": [], "limits": [], "unsupported": None}
    try:  # decided here, not from what the candidate's process says (it could say anything)
        op = checkable(spec.name.qualified, all_cases[0])
    except LookupError as exc:
        return {**verdict, "unsupported": str(exc)}
    results = torch.load(out, weights_only=True)
    kwargs = aten_params(op, spec.params)
    lock = gpu_lock.for_device(device)
    with devices.device_context(device), lock.sharing():  # for the whole comparison, as in run()
        for case, result in zip(all_cases, results, strict=True):
            where = f"shape {tuple(case['shape'])} {case['dtype']}" + ("" if case["contiguous"] else " non-contiguous")
            args = make_inputs(op, case, device)
            try:
                expected = _tensors(op(*[_upcast(a) for a in args], **kwargs))
                same_dtype = _tensors(op(*[a.clone() if hasattr(a, "clone") else a for a in args],
                                         **kwargs))  # fmt: skip
            except Exception:  # noqa: BLE001 - ATen itself does not take this case: not a finding
                continue
            verdict["checked"] += 1
            if "raised" in result:  # a refusal; wrong only where the perf file claims the op works
                (verdict["raised"] if case["claimed"] else verdict["limits"]).append(f"{where}: {result['raised']}")
                continue
            problem = _mismatch(result["outputs"], expected, case["dtype"])
            if problem and _mismatch(result["outputs"], same_dtype, case["dtype"]) is not None:
                (verdict["wrong"] if case["strict"] else verdict["limits"]).append(
                    f"{where} (seed {case['seed']}): {problem}")  # fmt: skip
        devices.synchronize(device)  # nothing of the comparison still runs once the lock is let go
    return verdict


def _upcast(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(torch.float64, copy=True)  # an in-place reference must not write the input
    return value


def _mismatch(outputs: list[Any], expected: list[Any], dtype: str) -> str | None:
    import torch

    if len(outputs) != len(expected):
        return f"{len(outputs)} tensor(s) returned, ATen returns {len(expected)}"
    for got, ref in zip(outputs, expected, strict=True):
        got = got.to(ref.device)  # compared where the reference is: on the GPU, 16M elements take no time
        if got.shape != ref.shape:
            return f"shape {tuple(got.shape)}, ATen's is {tuple(ref.shape)}"
        if ref.is_floating_point():
            ref = ref.to(got.dtype) if got.is_floating_point() else ref
        try:
            torch.testing.assert_close(got, ref, rtol=RESOLUTION.get(dtype, 1e-6), atol=1e-4, equal_nan=True,
                                       check_dtype=False)  # fmt: skip
        except AssertionError as exc:
            return " ".join(str(exc).split())[:200]
    return None


def finding(verdict: dict[str, Any]) -> str | None:
    """Why the verdict blocks the operator, or None."""
    if verdict.get("wrong"):
        more = f" (and {len(verdict['wrong']) - 1} more)" if len(verdict["wrong"]) > 1 else ""
        return f"wrong on the tool's own inputs: {verdict['wrong'][0]}{more}"
    if verdict.get("raised"):
        return f"raises on the tool's own inputs: {verdict['raised'][0]}"
    if verdict.get("error"):
        # Its code ran in that process: ending it (an exit at import, a crash, a hang) must not
        # be a way past the check, so a gate that could not finish blocks as a wrong result does.
        return f"the tool's own check could not finish: {verdict['error']}"
    return None


VERDICT = "flaggems-gate-verdict "  # the referee's answer lines start with it; anything else is noise


def serve(device: str) -> None:
    """The referee: one request per line on stdin (operator, cases, outputs file), one verdict line
    each on stdout; an exception is that operator's verdict (``error``), not the referee's end."""
    from pytest_flaggems_import.runner import device as devices

    devices.prepare_process(device)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            verdict = compare(Path(request["operator"]), device, request["cases"], Path(request["outputs"]))
        except Exception as exc:  # noqa: BLE001 - bad outputs (a forged file, too few results) are a finding
            verdict = {"error": f"compare: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"}
        print(VERDICT + json.dumps(verdict), flush=True)


READY = "flaggems-gate-ready"  # a run process's first line: started, waiting for its operator


def main(argv: list[str]) -> int:
    if argv[0] == "serve":
        serve(argv[1])
        return 0
    command, device, *memory = argv
    if memory:
        from pytest_flaggems_import.runner.confine import limit_memory

        why_not = limit_memory(int(memory[0]))
        if why_not is not None:
            print(f"--flaggems-max-memory: {why_not}", file=sys.stderr)
            return 2
    _warm_up(device)
    print(READY, flush=True)
    request = json.loads(sys.stdin.readline())  # its one operator: then the process ends
    run(Path(request["operator"]), device, request["cases"], Path(request["out"]))
    return 0


def _warm_up(device: str) -> None:
    """What every check needs before the operator is known, done while the process waits as a
    spare (runner.gatekeeper): torch and what ``run`` uses imported, the device's context made,
    the process's first Triton compile and launch and torch's first device calls done
    (runner.gate_warmup)."""
    # run() reads the operator file (formats) and runs it (bench, compile_clock, isolate) with these.
    from pytest_flaggems_import.core import formats  # noqa: F401
    from pytest_flaggems_import.runner import bench, compile_clock, gpu_lock, isolate  # noqa: F401
    from pytest_flaggems_import.runner import device as devices

    devices.prepare_process(device)
    import torch
    import triton  # noqa: F401 - every candidate imports it

    if device == "cuda":
        from pytest_flaggems_import.runner import gate_warmup

        lock = gpu_lock.for_device(device)
        with lock.sharing():  # making a context is GPU work: never during a timing
            torch.empty(1, device="cuda")
        # A head start only (the check does it itself otherwise). The compile, outside the lock:
        # no GPU work, now that the context exists (Triton asks torch for the current device).
        with contextlib.suppress(Exception):
            gate_warmup.first_compile()
        with lock.sharing(), contextlib.suppress(Exception):
            gate_warmup.first_calls()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
