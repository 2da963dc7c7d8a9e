"""Timing one operator against torch and FlagGems on one configuration (shape, dtype).

Three timings, as FlagGems' own benchmark harness names them (``benchmark/consts.py``):

- ``cudagraph`` (decides on the GPU, SPEC 9): device time by graph replay, measured by
  ``time_interleaved``: per implementation one CUDA graph of k calls over rotated input copies
  (k so that one replay takes about ``REPLAY_MS``), L2 flushed before each replay outside the
  timed region, the implementations replayed in turn round after round until every median ratio
  is known to +-0.5 % (``runner.steady``) or the round budget is spent;
- ``kernel`` (recorded beside it): ``triton.testing.do_bench``, CUDA events around each call,
  end to end from the host's launch, at a small budget;
- ``operator``: a host timer around synchronised calls (what a user of the op waits); the only
  timing on the CPU, where it decides nothing unless the user allows it (SPEC §7).
"""

from __future__ import annotations

import itertools
import statistics
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pytest_flaggems_import.core.names import OpName
from pytest_flaggems_import.errors import CandidateError

DEFAULT_SHAPES = {
    "pointwise": ((1024, 1024), (4096, 4096)),
    "reduction": ((1024, 1024), (4096, 4096)),
    "blas": ((1024, 1024), (4096, 4096)),
}
QUANTILES = (0.2, 0.5, 0.8)
CPU_MAX_ELEMENTS = 4096
REPLAY_MS = 0.5  # one graph replay lasts about this long: k calls per graph (docs/benchmarks.md: why 0.5)
MAX_CALLS_PER_GRAPH = 500
SIZING_CALLS = 5  # the graph whose replay sizes the measured one (_calls_per_graph)
SIZING_REPLAYS = 3  # timed replays of it, the fastest counts
ROUNDS_PER_CHECK = 5  # rounds recorded between two looks at the stopping rule (one sync each)
KERNEL_REP_MS = 3.0  # do_bench's budget for the recorded end-to-end figure
L2_MULTIPLE = 4  # the rotated input copies of a measurement span at least 4x L2 (input_copies)
MIN_COPIES = 8
L2_FLUSH_BYTES = 256 << 20  # more than any current GPU's L2 (H100 50 MB, H200 60 MB, B200 126 MB)


class NotBenchmarkable(CandidateError):
    """No inputs can be made for this operator (and it defines no ``bench_inputs``)."""


class WrongResult(CandidateError, AssertionError):
    """The candidate's output differs from PyTorch's at the benchmark shape."""


@dataclass(frozen=True)
class BenchConfig:
    shape: tuple[int, ...]
    dtype: str

    @property
    def id(self) -> str:
        return f"{self.dtype}-{'x'.join(map(str, self.shape)) or 'scalar'}"


@dataclass(frozen=True)
class Timing:
    """Milliseconds at the 20th, 50th and 80th percentiles of ``rounds`` measurements; by graph
    replay, each replay of a graph of ``calls`` calls (0: no graph)."""

    p20: float
    p50: float
    p80: float
    rounds: int
    calls: int = 0

    def as_dict(self) -> dict[str, float | int]:
        kept = {"p20": self.p20, "p50": self.p50, "p80": self.p80, "rounds": self.rounds}
        return {**kept, "calls": self.calls} if self.calls else kept


def cpu_sized(config: BenchConfig, most: int = CPU_MAX_ELEMENTS) -> BenchConfig:
    """The config with its largest dimensions halved until it holds at most ``most`` elements."""
    shape = list(config.shape)
    while shape and _numel(shape) > most:
        largest = shape.index(max(shape))
        shape[largest] = max(1, shape[largest] // 2)
    return BenchConfig(tuple(shape), config.dtype)


def _numel(shape: list[int]) -> int:
    total = 1
    for n in shape:
        total *= n
    return total


def parse_shapes(text: str) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(n) for n in part.strip().split("x")) for part in text.split(",") if part.strip())


def default_configs(category: str, shapes: str | None, dtypes: str) -> list[BenchConfig]:
    chosen = parse_shapes(shapes) if shapes else DEFAULT_SHAPES.get(category, DEFAULT_SHAPES["pointwise"])
    return [BenchConfig(s, d.strip()) for s in chosen for d in dtypes.split(",") if d.strip()]


def aten_overload(name: OpName) -> Any | None:
    import torch

    packet = getattr(torch.ops.aten, name.base, None) if name.namespace == "aten" else None
    if packet is None:
        return None
    return getattr(packet, name.overload or "default", None)


def make_inputs(overload: Any, config: BenchConfig, device: str, params: Mapping[str, Any]) -> tuple[list, dict]:
    """Tensors of the config's shape and dtype for every Tensor argument; the rest from ``params``
    or the schema's defaults. Random normal data, never zeros, the same in every run and whatever
    ran before in the process (seeded from the configuration and the argument's position): the
    check at the benchmark shape gives one verdict for one operator."""
    import torch

    dtype = getattr(torch, config.dtype)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for position, arg in enumerate(overload._schema.arguments):
        kind = str(arg.type)
        if arg.name in params:
            value = _aten_value(params[arg.name], kind)
        elif kind in ("Tensor", "Tensor?") and not arg.has_default_value():
            seeded = torch.Generator(device=device).manual_seed(zlib.crc32(f"{config.id}/{position}".encode()))
            value = torch.randn(config.shape, device=device, generator=seeded).to(dtype)
        elif arg.has_default_value():
            continue
        else:
            raise NotBenchmarkable(f"argument {arg.name!r} ({kind}) has no value: give it in params or bench_inputs")
        if arg.kwarg_only:
            kwargs[arg.name] = value
        else:
            args.append(value)
    return args, kwargs


_REDUCTION = {"none": 0, "mean": 1, "sum": 2}


def aten_params(overload: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """An operator's keyword arguments in the form its ATen op's schema takes them."""
    kinds = {arg.name: str(arg.type) for arg in overload._schema.arguments}
    return {name: _aten_value(value, kinds.get(name, "")) for name, value in params.items()}


def _aten_value(value: Any, kind: str) -> Any:
    """Python-level params (``reduction="mean"``) in the form the ATen schema takes (``1``)."""
    if kind == "int" and isinstance(value, str) and value in _REDUCTION:
        return _REDUCTION[value]
    return value


def check_against(candidate: Callable, reference: Callable, args: list, kwargs: dict, dtype: str) -> None:
    """Compare outputs before timing; fp16/bf16 get a looser tolerance, fp64 reference if possible."""
    import torch

    def clones(values):
        return [v.clone() if isinstance(v, torch.Tensor) else v for v in values]

    actual = candidate(*clones(args), **kwargs)
    upcast = [v.double() if isinstance(v, torch.Tensor) and v.is_floating_point() else v for v in args]
    try:
        expected = reference(*upcast, **kwargs)
    except RuntimeError:  # no fp64 kernel for this op
        expected = reference(*clones(args), **kwargs)
    if isinstance(actual, torch.Tensor) and isinstance(expected, torch.Tensor):
        expected = expected.to(actual.dtype)  # fp16 overflow to inf is then inf on both sides
    tol = tolerance(dtype)
    try:
        torch.testing.assert_close(actual, expected, rtol=tol, atol=tol, equal_nan=True, check_dtype=False)
    except AssertionError as exc:
        # What, how many and where, as torch says it: "Tensor-likes are not close! Mismatched
        # elements: 1 / 16777216 (0.0%) Greatest absolute difference: nan at index (3, 7) ..."
        said = " ".join(line.strip() for line in str(exc).splitlines()[:4] if line.strip())
        raise WrongResult(f"wrong at benchmark shape: {said}") from None


def tolerance(dtype: str) -> float:
    """``check_against``'s rtol and atol: fp16/bf16 looser than fp32."""
    return {"float16": 2e-3, "bfloat16": 1.6e-2}.get(dtype, 1.3e-5)


@dataclass(frozen=True)
class Checked:
    """One configuration's inputs, at which the candidate's result matched ATen's."""

    reference: Callable
    args: list
    kwargs: dict


def checked_inputs(
    candidate: Callable,
    name: OpName,
    config: BenchConfig,
    device: str,
    params: Mapping[str, Any] | None = None,
    custom_inputs: Callable | None = None,
) -> Checked:
    """The inputs of one configuration, the candidate's first call at them checked (on the GPU
    that call compiles its kernels for this shape and dtype: no timing, so it may run beside
    other work; ``tunes_itself`` says when it may not)."""
    reference, args, kwargs = inputs_for(name, config, device, params or {}, custom_inputs)
    check_against(candidate, reference, args, kwargs, config.dtype)
    return Checked(reference, args, kwargs)


def first_flaggems_calls(checked: Checked) -> None:
    """FlagGems' first call at a configuration's checked inputs (copies): its kernels compile for
    this shape and dtype outside any timing. Only for an implementation that does not tune
    itself (``flaggems_tunes``): no timing, so it may run beside other work."""
    import torch

    args = [a.clone() if isinstance(a, torch.Tensor) else a for a in checked.args]
    with _use_gems():
        checked.reference(*args, **checked.kwargs)


def tunes_itself(module: Any) -> bool:
    """Whether a module defines a Triton autotuner (``triton.autotune``, FlagGems' ``libtuner``):
    its first call at a new shape times its configs, so it must not share the device."""
    try:
        from triton.runtime.autotuner import Autotuner
    except ImportError:
        return False
    for value in list(vars(module).values()):
        for _ in range(4):  # decorators wrap one another: heuristics(autotune(jit(fn)))
            if isinstance(value, Autotuner):
                return True
            try:
                value = getattr(value, "fn", None)
            except Exception:  # noqa: BLE001 - a candidate's object may raise anything here
                break
            if value is None:
                break
    return False


def rotating(fn: Callable, args: list, kwargs: dict, copies: int) -> Callable[[], Any]:
    """A call that cycles through ``copies`` fresh input sets made up front, outside any timing.

    No copy is timed, and each call reads inputs that the previous ``copies - 1`` calls did not
    touch (an in-place operator sees its own output again only ``copies`` calls later).
    """
    import torch

    sets = [[a.clone() if isinstance(a, torch.Tensor) else a for a in args] for _ in range(copies)]
    cycle = itertools.cycle(sets)
    return lambda: fn(*next(cycle), **kwargs)


def _timing(samples: list[float]) -> Timing:
    samples = sorted(samples)
    q = statistics.quantiles(samples, n=10, method="inclusive") if len(samples) > 1 else samples * 9
    return Timing(q[1], statistics.median(samples), q[7], len(samples))


def time_kernel(call: Callable[[], Any], rounds: int, rep_ms: float, warmup_ms: float = 10.0) -> Timing:
    import triton.testing

    return _timing([triton.testing.do_bench(call, warmup=warmup_ms, rep=rep_ms, return_mode="median")
                    for _ in range(rounds)])  # fmt: skip


def time_operator(call: Callable[[], Any], rounds: int, device: str, min_ms: float = 5.0) -> Timing:
    """Host timer around synchronised calls (end to end, launch overhead included)."""
    import torch

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    call()
    sync()
    samples = []
    for _ in range(rounds):
        n, elapsed = 0, 0.0
        start = time.perf_counter()
        while elapsed * 1e3 < min_ms or n < 3:
            call()
            sync()
            n += 1
            elapsed = time.perf_counter() - start
        samples.append(elapsed * 1e3 / n)
    return _timing(samples)


def flaggems_ops() -> frozenset[str]:
    """Ops the installed FlagGems registers (its ``_FULL_CONFIG`` table), not guessed by timing:
    under ``use_gems()`` an op it lacks silently falls back to torch."""
    try:
        import flag_gems
    except Exception:  # noqa: BLE001
        return frozenset()
    table = getattr(flag_gems, "_FULL_CONFIG", ())
    return frozenset(entry[0] for entry in table if entry and isinstance(entry[0], str))


def flaggems_implements(name: OpName, registered: frozenset[str] | Mapping[str, Any]) -> bool:
    return _flaggems_key(name, registered) is not None


def _flaggems_key(name: OpName, registered: frozenset[str] | Mapping[str, Any]) -> str | None:
    """The name FlagGems registers the op under: its own, or ``<base>.Tensor`` for a bare name."""
    for key in (name.short, f"{name.base}.Tensor" if name.overload is None else None):
        if key is not None and key in registered:
            return key
    return None


def flaggems_tunes(name: OpName) -> bool:
    """Whether the installed FlagGems' implementation of the op may time its own configs on its
    first call at a shape (an autotuner in its module, or in a FlagGems module it takes a name
    from): that call must then be alone on the device. True when the implementation is unknown."""
    import sys

    function = _flaggems_function(name)
    if function is None:
        return True
    home = sys.modules.get(getattr(function, "__module__", "") or "")
    if home is None:
        return True
    modules = {home} | {
        sys.modules[owner]
        for value in list(vars(home).values())
        if isinstance(owner := getattr(value, "__module__", None), str) and owner.startswith("flag_gems") and owner in sys.modules
    }
    return any(tunes_itself(module) for module in modules)


def _flaggems_function(name: OpName) -> Callable | None:
    try:
        import flag_gems
    except Exception:  # noqa: BLE001
        return None
    table = {entry[0]: entry[1] for entry in getattr(flag_gems, "_FULL_CONFIG", ()) if len(entry) > 1 and isinstance(entry[0], str)}
    key = _flaggems_key(name, table)
    return table[key] if key is not None else None


def input_copies(args: list, l2_bytes: int, *, multiple: int = L2_MULTIPLE, budget_bytes: int = 1 << 30) -> int:
    """How many input sets a measurement rotates through: together at least ``multiple`` times
    L2, so that every call reads its inputs from memory wherever they were placed (8 sets of a
    1024² configuration, 16-32 MB, fit in an H100's 50 MB L2: whether a call then hit L2 depended
    on where the allocator put them, and one implementation could read 2x slower for a whole
    measurement); at least ``MIN_COPIES``, at most one per call of a graph, within a memory budget."""
    import torch

    size = sum(a.numel() * a.element_size() for a in args if isinstance(a, torch.Tensor)) or 1
    wanted = max(MIN_COPIES, -(-multiple * l2_bytes // size))
    return max(1, min(wanted, MAX_CALLS_PER_GRAPH, budget_bytes // size))


def l2_bytes(device: str) -> int:
    """The L2 cache of the current GPU (0 on the CPU)."""
    import torch

    return torch.cuda.get_device_properties(torch.cuda.current_device()).L2_cache_size if device == "cuda" else 0


def inputs_for(
    name: OpName, config: BenchConfig, device: str, params: Mapping[str, Any], custom: Callable | None
) -> tuple[Any, list, dict]:
    """The ATen reference and the inputs for one config: the operator's own ``bench_inputs`` if
    it has one, else synthesised from the schema."""
    import torch

    reference = aten_overload(name)
    if reference is None:
        raise NotBenchmarkable(f"no torch.ops.aten op for {name.qualified} to compare with")
    if custom is not None:
        args, kwargs = custom(config.shape, getattr(torch, config.dtype), device)
        return reference, list(args), dict(kwargs)
    return reference, *make_inputs(reference, config, device, params)


class CaptureError(RuntimeError):
    """An implementation cannot be captured in a CUDA graph (it synchronises, or copies to the host)."""


def _capture(call: Callable[[], Any], calls: int) -> Any:
    """A CUDA graph of ``calls`` calls (warmed up on a side stream first, as torch requires)."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            call()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            for _ in range(calls):
                call()
    except Exception as exc:  # noqa: BLE001 - whatever stops capture, the figure falls back to kernel
        torch.cuda.synchronize()
        raise CaptureError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    return graph


def _calls_per_graph(call: Callable[[], Any]) -> int:
    """How many calls make one replay last about ``REPLAY_MS``, from the device time of a short
    graph of ``SIZING_CALLS`` calls, its fastest of ``SIZING_REPLAYS`` replays (one replay alone
    often read slow: lengths of one implementation's graphs ranged over 3x). (Timed eagerly, a small operator's calls are host-bound:
    a 4 us kernel launched from Python every ~40 us gave graphs 10x too short, each
    implementation its own length, so a replay's fixed cost weighed differently on each, up to
    2x on one implementation for a whole measurement.)"""
    import torch

    sizing = _capture(call, SIZING_CALLS)
    sizing.replay()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(SIZING_REPLAYS)]
    for start, end in events:
        start.record()
        sizing.replay()
        end.record()
    torch.cuda.synchronize()
    # The fastest replay: one slowed from outside the graph would make every replay too short.
    one = max(min(start.elapsed_time(end) for start, end in events) / SIZING_CALLS, 1e-4)
    return max(1, min(MAX_CALLS_PER_GRAPH, round(REPLAY_MS / one)))


def time_interleaved(calls: Mapping[str, Callable[[], Any]], contexts: Mapping[str, Callable[[], Any]]) -> dict[str, Timing]:
    """Device time per call of each implementation by graph replay, the implementations in turn.

    ``contexts`` gives, per implementation, a context manager factory active while its graph is
    captured (``use_gems()`` for FlagGems: the graph then holds FlagGems' kernels). Raises
    ``CaptureError`` when one implementation cannot be captured."""
    import torch

    from pytest_flaggems_import.runner import steady

    graphs, per_graph = {}, {}
    for impl, call in calls.items():
        with contexts[impl]():
            per_graph[impl] = _calls_per_graph(call)
            graphs[impl] = _capture(call, per_graph[impl])
    flush = torch.empty(L2_FLUSH_BYTES, dtype=torch.uint8, device="cuda")
    times: dict[str, list[float]] = {impl: [] for impl in calls}
    order = list(calls)
    while not steady.settled(times):
        events = []
        for round_ in range(ROUNDS_PER_CHECK):
            for impl in order[round_ % len(order):] + order[: round_ % len(order)]:  # who goes first rotates
                flush.zero_()  # outside the events: L2 cold at every replay
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                graphs[impl].replay()
                end.record()
                events.append((impl, start, end))
        torch.cuda.synchronize()
        for impl, start, end in events:
            times[impl].append(start.elapsed_time(end) / per_graph[impl])
    return {impl: replace(_timing(samples), calls=per_graph[impl]) for impl, samples in times.items()}


def measure(
    candidate: Callable,
    name: OpName,
    config: BenchConfig,
    device: str,
    *,
    metric: str = "cudagraph",
    params: Mapping[str, Any] | None = None,
    custom_inputs: Callable | None = None,
    with_flaggems: bool = False,
    rounds: int = 5,
    checked: Checked | None = None,
) -> dict[str, Any]:
    """One perf row (SPEC §2 keys, milliseconds) with every timing's spread as extra keys.

    On the GPU: ``cudagraph`` by ``time_interleaved`` and ``kernel`` beside it; ``metric`` says
    which decides (when an implementation cannot be captured in a graph, ``kernel`` decides for
    that configuration, and the row says why). On the CPU: ``operator``, ``rounds`` rounds, the
    implementations alternating so drift spreads over all of them. ``checked``: the inputs
    ``checked_inputs`` made and checked already (else made and checked here).
    """
    import contextlib

    if checked is None:
        checked = checked_inputs(candidate, name, config, device, params, custom_inputs)
    reference, args, kwargs = checked.reference, checked.args, checked.kwargs
    copies = input_copies(args, l2_bytes(device))
    impls = {"your": candidate, "cuda": reference}
    if with_flaggems:
        impls["flaggems"] = reference  # dispatched to FlagGems under use_gems(), below
    calls = {impl: rotating(fn, args, kwargs, copies) for impl, fn in impls.items()}
    contexts = {impl: (_use_gems if impl == "flaggems" else contextlib.nullcontext) for impl in impls}
    timings: dict[str, dict[str, Timing]] = {impl: {} for impl in impls}
    row: dict[str, Any] = {"shape": list(config.shape), "dtype": config.dtype}
    if device == "cuda":
        decide = "kernel" if metric == "kernel" else "cudagraph"
        try:
            for impl, timing in time_interleaved(calls, contexts).items():
                timings[impl]["cudagraph"] = timing
        except CaptureError as exc:
            decide, row["capture_error"] = "kernel", str(exc)
        for impl, call in calls.items():
            with contexts[impl]():
                timings[impl]["kernel"] = time_kernel(call, 1, KERNEL_REP_MS, warmup_ms=1.0)
        if metric == "operator":
            decide = "operator"
            for impl, call in calls.items():
                with contexts[impl]():
                    timings[impl]["operator"] = time_operator(call, rounds, device)
    else:
        decide = "operator"
        samples: dict[str, list[float]] = {impl: [] for impl in impls}
        for _ in range(rounds):
            for impl, call in calls.items():
                with contexts[impl]():
                    samples[impl].append(time_operator(call, 1, device).p50)
        timings = {impl: {"operator": _timing(s)} for impl, s in samples.items()}
    row.update({
        "your_time": timings["your"][decide].p50,
        "cuda_time": timings["cuda"][decide].p50,
        "metric": decide,
        "device": device,
        "spread": {i: {m: t.as_dict() for m, t in by_mode.items()} for i, by_mode in timings.items()},
    })  # fmt: skip
    if with_flaggems:
        row["flaggems_time"] = timings["flaggems"][decide].p50
    if device == "cuda":
        # For the plausibility check (core.selection.implausible): the least the op must move.
        from pytest_flaggems_import.runner.device import peak_bandwidth

        row["bytes"] = bytes_moved(args, kwargs, reference(*args, **kwargs))
        peak = peak_bandwidth()
        if peak is not None:
            row["peak_bandwidth"] = peak
    return row


def _use_gems() -> Any:
    import flag_gems

    return flag_gems.use_gems()


def bytes_moved(args: Any, kwargs: Any, result: Any) -> int:
    """Bytes an op must at least move: every input tensor read once, every output written once."""
    import torch
    from torch.utils._pytree import tree_flatten

    tensors = [t for t in tree_flatten((args, kwargs, result))[0] if isinstance(t, torch.Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors)
