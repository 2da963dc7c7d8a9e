"""Load and validate the input files (SPEC §2) into frozen dataclasses.

Validation runs in two passes: the published JSON Schema (``schema/*.json``), then the checks a
schema cannot express (finite times, canonical dtypes, duplicate configurations). Every problem
is an ``InputError`` naming the file and the JSON path; all problems of a file are reported at once.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from pytest_flaggems_import.core.dtypes import canonical_dtype
from pytest_flaggems_import.core.jsonio import parse_json, read_bytes, read_json
from pytest_flaggems_import.core.names import OpName, module_name_problem, parse_op_name
from pytest_flaggems_import.errors import InputError, InputErrors

if TYPE_CHECKING:
    import jsonschema

Kind = Literal["operator", "your_perf", "flaggems_perf", "selected", "metadata", "session"]
KINDS: tuple[Kind, ...] = ("operator", "your_perf", "flaggems_perf", "selected", "metadata", "session")
PerfKind = Literal["your_perf", "flaggems_perf"]
PERF_KINDS: tuple[PerfKind, ...] = ("your_perf", "flaggems_perf")
TIME_KEY = {"your_perf": "your_time", "flaggems_perf": "flaggems_time"}
STANDARD_NAMES = {
    "your_perf_data.json": "your_perf",
    "flaggems_perf_data.json": "flaggems_perf",
    "_metadata.json": "metadata",
    "session.json": "session",
}


@dataclass(frozen=True)
class OperatorSpec:
    """One operator file, validated."""

    name: OpName
    code: str
    path: Path
    test_func: str | None = None
    benchmark_func: str | None = None  # the ops layout's benchmark/test_<op>.py, when given
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, int] | None = None
    category: str | None = None  # as declared; plugin infers one when absent
    entry: str = ""
    folder_batch: int | None = None  # from a batch1/ or batch2/ folder

    @property
    def op(self) -> str:
        """The short name perf files and selected files use (``gelu``, ``add.Tensor``)."""
        return self.name.short


class PerfConfig(msgspec.Struct, frozen=True, gc=False):
    """One measured configuration. ``time_ms`` is ``your_time`` or ``flaggems_time``.

    A ``msgspec.Struct`` rather than a dataclass: a 10,000-operator file holds 200,000 of them,
    and a Struct is built in C (8x faster than a frozen dataclass here) and not tracked by the
    cyclic GC, whose passes over that many objects otherwise cost more than the parse itself.
    """

    shape: tuple[int, ...]
    dtype: str  # canonical
    time_ms: float
    cuda_time_ms: float
    extra: dict[str, Any] = {}

    @property
    def key(self) -> tuple[tuple[int, ...], str]:
        return (self.shape, self.dtype)


PerfTable = dict[str, tuple[PerfConfig, ...]]


@functools.cache
def schema(kind: Kind) -> dict[str, Any]:
    text = resources.files(__package__).joinpath("schema", f"{kind}.schema.json").read_text("utf-8")
    return json.loads(text)


def json_path(parts: Iterable[Any]) -> str:
    """``["gelu", "configs", 3, "dtype"]`` → ``$.gelu.configs[3].dtype``."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


SESSION_FILE = "session.json"
SELECTED_PREFIX = "selected_batch"


def selected_name(batch: int) -> str:
    """``selected_batch1.json``: the file a batch's selection is written to (SPEC §4)."""
    return f"{SELECTED_PREFIX}{batch}.json"


def detect_kind(path: str | Path, data: Any) -> Kind | None:
    """Guess the kind of a file from its standard name, else from its content."""
    name = Path(path).name
    if name in STANDARD_NAMES:
        return STANDARD_NAMES[name]  # type: ignore[return-value]
    if name.startswith(SELECTED_PREFIX):
        return "selected"
    if not isinstance(data, dict):
        return None
    if "op_name" in data or "code" in data:
        return "operator"
    if "operators" in data and "batch" in data:
        return "selected"
    if "ops" in data and "version" in data:
        return "metadata"
    if "operators" in data and "decisions" in data:
        return "session"
    for entry in data.values():
        configs = entry.get("configs") if isinstance(entry, dict) else None
        if isinstance(configs, list) and configs and isinstance(configs[0], dict):
            if "flaggems_time" in configs[0]:
                return "flaggems_perf"
            if "your_time" in configs[0]:
                return "your_perf"
    return None


@functools.cache
def _fast_check(kind: Kind) -> Callable[[Any], Any] | None:
    """A compiled validator of the same schema, for the common case of a valid file.

    ``jsonschema`` walks a 10,000-operator perf file in ~20 s here; ``fastjsonschema`` compiles
    the schema to Python and checks it in about 1 s. Only when it finds a fault does
    ``jsonschema`` run, to list every problem with its JSON path. Optional: without it, every
    file goes through ``jsonschema``. (Perf files known by name take ``load_perf``'s faster
    path; this one serves operator, selected and metadata files and perf files that path doubts.)
    """
    try:
        import fastjsonschema
    except ImportError:
        return None
    return fastjsonschema.compile(schema(kind))


def schema_errors(kind: Kind, data: Any, path: str | Path) -> list[InputError]:
    fast = _fast_check(kind)
    if fast is not None:
        try:
            fast(data)
            return []
        except Exception:  # noqa: BLE001 - any doubt: let jsonschema decide and explain
            pass
    import jsonschema  # here, not at the top: a valid perf file never needs it (55 ms to import)

    validator = jsonschema.Draft202012Validator(schema(kind))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    return [InputError(path, json_path(e.absolute_path), _explain(e)) for e in errors]


def _explain(error: jsonschema.ValidationError) -> str:
    if error.validator == "exclusiveMinimum":
        return f"expected a number > {error.validator_value} (milliseconds), got {error.instance!r}"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"expected {expected}, got {type(error.instance).__name__} {error.instance!r}"
    return error.message


def validate(kind: Kind, data: Any, path: str | Path) -> list[InputError]:
    """Every problem of one file, in one pass: schema and the semantic checks of that kind.

    Infinity/NaN parse in Python's json; they are reported as such rather than as schema noise
    at the same place, and never hide the file's other problems.
    """
    non_finite = _non_finite_times(data, path, TIME_KEY[kind]) if kind in TIME_KEY else []
    flagged = {p.json_path for p in non_finite}
    schema_problems = [p for p in schema_errors(kind, data, path) if p.json_path not in flagged]
    problems = non_finite + schema_problems
    if kind in TIME_KEY:
        return problems + _perf_problems(data, path)
    if schema_problems:
        return problems
    if kind == "operator":
        try:
            name = parse_op_name(data["op_name"])
        except ValueError as exc:
            return [InputError(path, "$.op_name", str(exc))]
        return _operator_name_problems(data, name, path)
    return problems


def _operator_name_problems(data: dict, name: OpName, path: str | Path) -> list[InputError]:
    """Names that become module and folder names in a checkout (names.module_name_problem)."""
    problems = []
    entry_key = "$.entry" if "entry" in data else "$.op_name"
    checks = [(entry_key, data.get("entry", name.entry), "entry" if "entry" in data else "module name")]
    if "category" in data:
        checks.append(("$.category", data["category"], "category"))
    for json_key, value, what in checks:
        problem = module_name_problem(value, what)
        if problem:
            problems.append(InputError(path, json_key, problem))
    return problems


def _non_finite_times(data: Any, path: str | Path, time_key: str) -> list[InputError]:
    problems: list[InputError] = []
    if not isinstance(data, dict):
        return problems
    for op, entry in data.items():
        configs = entry.get("configs") if isinstance(entry, dict) else None
        for i, cfg in enumerate(configs if isinstance(configs, list) else []):
            for key in (time_key, "cuda_time"):
                value = cfg.get(key) if isinstance(cfg, dict) else None
                if isinstance(value, float) and not math.isfinite(value):
                    where = json_path([op, "configs", i, key])
                    problems.append(InputError(path, where, f"expected a finite number > 0, got {value}"))
    return problems


def _perf_problems(data: Any, path: str | Path) -> list[InputError]:
    """Unknown dtypes and duplicate configurations, wherever the file has the shape to tell
    (the schema reports the rest, in the same pass)."""
    problems: list[InputError] = []
    for op, entry in (data.items() if isinstance(data, dict) else ()):
        configs = entry.get("configs") if isinstance(entry, dict) else None
        seen: dict[tuple[tuple[int, ...], str], int] = {}
        for i, cfg in enumerate(configs if isinstance(configs, list) else ()):
            if not isinstance(cfg, dict) or not isinstance(cfg.get("dtype"), str):
                continue
            try:
                dtype = canonical_dtype(cfg["dtype"])
            except ValueError as exc:
                problems.append(InputError(path, json_path([op, "configs", i, "dtype"]), str(exc)))
                continue
            shape = cfg.get("shape")
            if not isinstance(shape, list) or not all(isinstance(n, int) for n in shape):
                continue
            key = (tuple(shape), dtype)
            if key in seen:
                where = json_path([op, "configs", i])
                msg = f"duplicate configuration shape={list(key[0])} dtype={dtype} (first at configs[{seen[key]}])"
                problems.append(InputError(path, where, msg))
            seen.setdefault(key, i)
    return problems


def load_checked(path: str | Path, kind: Kind) -> Any:
    """Read a file and raise ``InputErrors`` listing all its problems, if any."""
    data = read_json(path)
    problems = validate(kind, data, path)
    if problems:
        raise InputErrors(problems)
    return data


BATCH_FOLDERS = ("batch1", "batch2")  # an operator file under one of these belongs to that batch (SPEC 1)


def folder_batch(path: Path) -> int | None:
    for parent in path.parents:
        if parent.name in BATCH_FOLDERS:
            return int(parent.name[-1])
    return None


def operator_from_data(data: dict[str, Any], path: str | Path) -> OperatorSpec:
    """Build an ``OperatorSpec`` from already validated data."""
    path = Path(path)
    name = parse_op_name(data["op_name"])
    return OperatorSpec(
        name=name,
        code=data["code"],
        path=path,
        test_func=data.get("test_func") or None,
        benchmark_func=data.get("benchmark_func") or None,
        params=dict(data.get("params") or {}),
        info=data.get("info"),
        category=data.get("category"),
        entry=data.get("entry") or name.entry,
        folder_batch=folder_batch(path),
    )


def load_operator(path: str | Path) -> OperatorSpec:
    return operator_from_data(load_checked(path, "operator"), path)


def perf_from_data(data: dict[str, Any], kind: PerfKind) -> PerfTable:
    time_key = TIME_KEY[kind]
    known = {"shape", "dtype", time_key, "cuda_time"}
    return {
        op: tuple(
            PerfConfig(
                shape=tuple(cfg["shape"]),
                dtype=canonical_dtype(cfg["dtype"]),
                time_ms=float(cfg[time_key]),
                cuda_time_ms=float(cfg["cuda_time"]),
                extra={k: v for k, v in cfg.items() if k not in known},
            )
            for cfg in entry["configs"]
        )
        for op, entry in data.items()
    }


def load_perf(path: str | Path, kind: PerfKind) -> PerfTable:
    """Read a perf file into a ``PerfTable``, or raise ``InputErrors`` listing all its problems.

    Perf files are the big inputs (10,000 operators x 20 configurations is 30 MB), so a valid
    file takes the fast path (``_fast_perf``); a file it has any doubt about takes the exact one
    (stdlib ``json``, the published schema, the semantic checks), which decides and explains.
    """
    raw = read_bytes(path)
    table = _fast_perf(raw, kind)
    return table if table is not None else _exact_perf(raw, path, kind)


def _exact_perf(raw: bytes, path: str | Path, kind: PerfKind) -> PerfTable:
    data = parse_json(raw, path)
    problems = validate(kind, data, path)
    if problems:
        raise InputErrors(problems)
    return perf_from_data(data, kind)


# The fast path: msgspec decodes and type-checks in C, straight into structs. These wire types
# are the perf schemas made stricter, never looser (tests/unit/test_fast_perf.py checks that
# whatever they accept the exact path accepts, into the same table): no extra keys (the exact
# path keeps them in ``PerfConfig.extra``), integers for shapes, finite positive times.
_Ms = Annotated[float, msgspec.Meta(gt=0)]
_Dim = Annotated[int, msgspec.Meta(ge=0)]
_Dtype = Annotated[str, msgspec.Meta(min_length=1)]


# pragma: no mutate start
# (Built once at import, before mutmut switches a mutant on: its mutants could never run. What the
# decoder accepts is tested through _fast_perf, tests/unit/test_fast_perf.py.)
def _decoder(kind: PerfKind) -> msgspec.json.Decoder:
    """``{op: {"configs": [config, ...]}}`` with the config type of one kind of perf file."""
    config = msgspec.defstruct(
        f"_{kind}_config",
        [("shape", tuple[_Dim, ...]), ("dtype", _Dtype), ("time_ms", _Ms), ("cuda_time", _Ms)],
        rename={"time_ms": TIME_KEY[kind]},
        forbid_unknown_fields=True,
        gc=False,
    )
    entry = msgspec.defstruct(f"_{kind}_entry", [("configs", list[config])], gc=False)  # type: ignore[valid-type]
    return msgspec.json.Decoder(dict[str, entry])  # type: ignore[valid-type]
# pragma: no mutate end


_DECODERS = {kind: _decoder(kind) for kind in PERF_KINDS}


def _fast_perf(raw: bytes, kind: PerfKind) -> PerfTable | None:
    """The table of a plainly valid perf file; ``None`` when the exact path must decide."""
    try:
        entries = _DECODERS[kind].decode(raw)
    except msgspec.MsgspecError:
        return None
    table: PerfTable = {}
    for op, entry in entries.items():
        try:
            configs = tuple(
                PerfConfig(c.shape, canonical_dtype(c.dtype), c.time_ms, c.cuda_time) for c in entry.configs
            )
        except ValueError:  # an unknown dtype
            return None
        if len({(c.shape, c.dtype) for c in configs}) != len(configs):  # a duplicate configuration
            return None
        table[op] = configs
    return table


def operator_files(folders: Iterable[Path]) -> Iterator[tuple[Path, Any]]:
    """Every JSON file under ``folders`` that looks like an operator file, with its parsed data.

    An object with ``op_name`` or ``code`` is one; so is JSON that does not parse (data ``None``),
    so that it fails alone and visibly. Perf files, selected files, ``_metadata.json``,
    ``session.json`` and other JSON beside the operators are skipped (STYLE §6).
    """
    for folder in folders:
        for path in sorted(Path(folder).rglob("*.json")):
            if path.name in STANDARD_NAMES or path.name.startswith(SELECTED_PREFIX):  # session.json among them
                continue
            try:
                data = read_json(path)
            except InputError:
                yield path, None
                continue
            if isinstance(data, dict) and detect_kind(path, data) == "operator":
                yield path, data


def operator_warnings(spec: OperatorSpec) -> list[str]:
    """Things worth a warning but not an error: a file named after another operator."""
    stem = spec.path.stem
    if stem not in (spec.name.base, spec.name.entry, spec.name.short):
        return [f"{spec.path}: file name {stem!r} does not match op_name {spec.name.qualified!r}"]
    return []


def cross_warnings(ops: Iterable[str], your: PerfTable | None, flaggems: PerfTable | None) -> list[str]:
    """Operators without perf data and perf entries without an operator file."""
    ops = set(ops)
    warnings = []
    if your is not None:
        warnings += [f"your_perf_data: {op!r} has no operator file" for op in sorted(set(your) - ops)]
        warnings += [f"operator {op!r} has no entry in your_perf_data" for op in sorted(ops - set(your))]
    if your is not None and flaggems is not None:
        only_fg = sorted(set(flaggems) - set(your))
        warnings += [f"flaggems_perf_data: {op!r} is not in your_perf_data" for op in only_fg]
    return warnings
