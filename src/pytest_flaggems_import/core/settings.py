"""The option table shared by the pytest plugin and the command line, and ``resolve()``.

Each ``Option`` gives the flag, the ini key, the default, a parser and the help text; the plugin
and the CLI loop over ``OPTIONS`` so the two front ends cannot drift apart (STYLE §3).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pytest_flaggems_import.core.selection import AGGREGATES, DEFAULT_THRESHOLD, Rules
from pytest_flaggems_import.core.shards import parse_shard
from pytest_flaggems_import.errors import UsageError


def _positive_int(text: Any) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise UsageError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise UsageError(f"expected at least 1, got {value}")
    return value


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = str(text).strip()
        if value not in allowed:
            raise UsageError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return value

    parse.__name__ = "choice"
    return parse


def parse_bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise UsageError(f"expected true or false, got {text!r}")


def parse_positive(text: Any) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise UsageError(f"expected a number > 0, got {text!r}")
    return value


def parse_threshold(text: Any) -> tuple[float, ...]:
    """``1.5`` (one batch) or ``1.3,1.25`` (batch 1 and batch 2, for ``auto`` runs)."""
    parts = [p for p in str(text).split(",") if p.strip()]
    if len(parts) not in (1, 2):
        raise UsageError(f"expected T or T1,T2, got {text!r}")
    return tuple(parse_positive(p) for p in parts)


_SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: Any) -> int:
    """``16G``, ``512M``, ``1.5GiB`` or plain bytes, as bytes."""
    value = str(text).strip().lower().removesuffix("b").removesuffix("i")
    unit = value[-1] if value and value[-1] in _SIZE_UNITS else ""
    try:
        size = int(float(value.removesuffix(unit)) * _SIZE_UNITS[unit])
    except ValueError:
        raise UsageError(f"expected a size such as 16G or 512M, got {text!r}") from None
    if size < 2**30:
        raise UsageError(f"expected at least 1G (a worker needs that much to import torch), got {text!r}")
    return size


def parse_paths(text: Any) -> tuple[Path, ...]:
    if isinstance(text, (list, tuple)):
        return tuple(Path(p) for p in text if p)
    return tuple(Path(p) for p in str(text).split() if p)


@dataclass(frozen=True)
class Option:
    name: str  # settings field; flag is --flaggems-<name with dashes>
    default: Any
    parse: Callable[[Any], Any]
    help: str
    cli: bool = False  # also an option of `flaggems-import select/import`
    is_flag: bool = False
    cli_help: str | None = None  # the CLI's own wording, where the plugin's default does not apply

    @property
    def cli_flags(self) -> tuple[str, ...]:
        """The CLI spells it as the plugin does (``--flaggems-layout``, SPEC §6) and, where that
        is what users type, without the prefix (``--layout``, ``--your-data``)."""
        short = "--" + self.name.replace("_", "-")
        return (self.flag, short) if self.name in _PREFIXED_ON_CLI else (short,)

    @property
    def flag(self) -> str:
        return "--flaggems-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "flaggems_" + self.name


OPTIONS: tuple[Option, ...] = (
    Option("ops", (), parse_paths, "Folder(s) of operator JSON files to collect. Default: none (plugin off)."),
    Option(
        "your_data",
        None,
        Path,
        "your_perf_data.json. Default: the file of that name beside the ops folder.",
        cli=True,
        cli_help="your_perf_data.json (required).",
    ),
    Option(
        "flaggems_data",
        None,
        Path,
        "flaggems_perf_data.json. Default: the file of that name beside the ops folder.",
        cli=True,
        cli_help="flaggems_perf_data.json. Without it every operator is a batch-2 candidate.",
    ),
    Option(
        "batch",
        None,
        _choice("1", "2", "auto"),
        "Batch to select: 1, 2 or auto. Default: batchN/ folders, else auto.",
        cli=True,
        cli_help="Batch to select: 1, 2 or auto (required). auto: in the FlagGems data means batch 1.",
    ),
    Option(
        "threshold",
        None,
        parse_threshold,
        "Selection threshold: T, or T1,T2 for both batches. Default: 1.30 (batch 1), 1.25 (batch 2).",
        cli=True,
    ),
    Option(
        "aggregate",
        "mean",
        _choice(*AGGREGATES),
        "How configs are aggregated: mean, geomean, median or worst. Default: mean.",
        cli=True,
    ),
    Option(
        "report_dir",
        None,
        Path,
        "Write selected_batch1.json, selected_batch2.json, session.json and the reports (report.html, "
        "report.md, charts) here. Default: no files.",
    ),
    Option(
        "allow_untested",
        False,
        parse_bool,
        "Let operators without tests be selected. Default: off.",
        is_flag=True,
        cli=True,
        cli_help="Import operators without passing test evidence in a session file (never ones whose tests "
        "failed); recorded in _metadata.json and the PR text.",
    ),
    Option(
        "device",
        "auto",
        _choice("auto", "cuda", "cpu"),
        "Where operators run: cuda, cpu (Triton interpreter) or auto. Default: auto.",
    ),
    Option(
        "isolate",
        "process",
        _choice("process", "none"),
        "Where candidate code runs: process (pytest-xdist workers, started with -n 1 unless -n is given; "
        "the deciding process runs none of it) or none (in the pytest process, for debugging). Default: process.",
    ),
    Option(
        "sandbox",
        "none",
        _choice("none", "bwrap"),
        "With --flaggems-isolate=process: bwrap starts each worker under bubblewrap (file system read-only "
        "except its scratch folder and the caches, no network). Default: none.",
    ),
    Option(
        "max_memory",
        None,
        parse_size,
        "Host memory each process that runs candidates may allocate (RLIMIT_DATA), e.g. 16G; a test "
        "that needs more fails with the allocator's error. Default: no limit.",
    ),
    Option(
        "timeout", 300.0, parse_positive, "Seconds one operator test may run before it fails as hung. Default: 300."
    ),
    Option(
        "bench",
        False,
        parse_bool,
        "Re-measure passing operators against torch and FlagGems. Default: off.",
        is_flag=True,
    ),
    Option(
        "bench_metric",
        "cudagraph",
        _choice("kernel", "cudagraph", "operator"),
        "Timing that decides on the GPU: cudagraph (device time by graph replay, SPEC 9), kernel "
        "(do_bench: end to end from the launch) or operator (host timer). Default: cudagraph.",
    ),
    Option(
        "bench_shapes",
        None,
        str,
        "Benchmark shapes when no perf file gives them, e.g. '1024x1024,4096x4096'. Default: per category.",
    ),
    Option(
        "bench_dtypes",
        "float16,float32,bfloat16",
        str,
        "Benchmark dtypes when no perf file gives them. Default: float16,float32,bfloat16.",
    ),
    Option(
        "allow_fallback",
        False,
        parse_bool,
        "Let an entry call the ATen op it replaces (e.g. torch.relu inside relu) without failing its test. "
        "Default: off.",
        is_flag=True,
    ),
    Option(
        "allow_mutation",
        False,
        parse_bool,
        "Let an entry change inputs it must not, return an input's memory, or (in place) not return its "
        "argument, without failing its test. Default: off.",
        is_flag=True,
    ),
    Option(
        "allow_kernel_free",
        False,
        parse_bool,
        "Select an operator whose results stay the same with its kernels turned into no-ops (ghost "
        "replay). Default: off.",
        is_flag=True,
    ),
    Option(
        "allow_implausible",
        False,
        parse_bool,
        "Select operators whose numbers look too good (a speedup above 10x, or a time implying more "
        "than 95 percent of the device's peak memory bandwidth). Default: off.",
        is_flag=True,
        cli=True,
    ),
    Option(
        "allow_cpu_timings",
        False,
        parse_bool,
        "Let timings measured on the CPU decide a selection. Default: off.",
        is_flag=True,
    ),
    Option(
        "shard",
        None,
        parse_shard,
        "Screen only shard I of N (I/N; an operator's shard comes from a hash of its name, the same on every "
        "machine), e.g. one CI job per shard; flaggems-import merge joins their session files. Default: all.",
    ),
    Option(
        "gate",
        "on",
        _choice("on", "off"),
        "The tool's own correctness check of each operator about to be selected: its entry against ATen on "
        "the tool's inputs, in fresh processes its tests never ran in (docs/isolation.md). off: tests alone "
        "decide. Default: on.",
    ),
    Option(
        "regen",
        None,
        Path,
        "Write regenerated your_perf_data.json and flaggems_perf_data.json here. Default: no files.",
    ),
    Option(
        "import",
        None,
        Path,
        "After selection, import the selected operators into this FlagGems checkout. Default: no import.",
    ),
    Option(
        "pr_dir",
        None,
        Path,
        "Write the import as pull requests into this folder (a PR text and a git-apply-able patch each, "
        "of at most --flaggems-pr-lines changed lines) instead of writing the checkout. Default: off.",
        cli=True,
    ),
    Option(
        "pr_lines",
        1000,
        _positive_int,
        "Changed lines per pull request with --flaggems-pr-dir (FlagGems' review rule). Default: 1000.",
        cli=True,
    ),
    Option(
        "branch",
        None,
        str,
        "With --flaggems-pr-dir: also commit each pull request on this new branch of the (git) checkout, "
        "with the tool's version and the session file's hash as trailers. Default: no branch.",
        cli=True,
    ),
    Option(
        "root",
        None,
        Path,
        "A FlagGems checkout whose tests/ helpers FlagGems-style tests import (from . import accuracy_utils "
        "as utils). Default: the --flaggems-import checkout; without one, the stand-in helpers.",
    ),
    Option(
        "layout",
        "auto",
        _choice("auto", "generated", "experimental_ops", "ops"),
        "Target layout in the checkout: generated, experimental_ops or ops. Default: auto (ops with "
        "conf/operators.yaml, else experimental_ops with experimental_ops/, else generated).",
        cli=True,
    ),
    Option(
        "dry_run",
        False,
        parse_bool,
        "With --flaggems-import: show the diff, write nothing. Default: off.",
        is_flag=True,
    ),
    Option(
        "force",
        False,
        parse_bool,
        "With --flaggems-import: overwrite operators whose code differs. Default: off.",
        is_flag=True,
    ),
)
BY_NAME = {o.name: o for o in OPTIONS}
_PREFIXED_ON_CLI = frozenset({"layout", "pr_dir", "pr_lines", "branch"})


@dataclass(frozen=True)
class Settings:
    ops: tuple[Path, ...] = ()
    your_data: Path | None = None
    flaggems_data: Path | None = None
    batch: str | None = None
    threshold: tuple[float, ...] | None = None
    aggregate: str = "mean"
    report_dir: Path | None = None
    allow_untested: bool = False
    device: str = "auto"
    isolate: str = "process"
    sandbox: str = "none"
    max_memory: int | None = None
    timeout: float = 300.0
    bench: bool = False
    bench_metric: str = "cudagraph"
    bench_shapes: str | None = None
    bench_dtypes: str = "float16,float32,bfloat16"
    allow_fallback: bool = False
    allow_mutation: bool = False
    allow_kernel_free: bool = False
    allow_implausible: bool = False
    allow_cpu_timings: bool = False
    shard: tuple[int, int] | None = None
    gate: str = "on"
    regen: Path | None = None
    import_root: Path | None = field(default=None, metadata={"option": "import"})
    root: Path | None = None
    pr_dir: Path | None = None
    pr_lines: int = 1000
    branch: str | None = None
    layout: str = "auto"
    dry_run: bool = False
    force: bool = False

    @functools.cached_property
    def rules(self) -> Rules:
        """Computed once (``resolve`` builds it first, so a contradiction fails there)."""
        return make_rules(
            self.batch, self.threshold, self.aggregate,
            flags=("--flaggems-batch", "--flaggems-threshold"), allow_implausible=self.allow_implausible,
        )  # fmt: skip


def make_rules(
    batch: str | None,
    threshold: tuple[float, ...] | None,
    aggregate: str,
    *,
    flags: tuple[str, str] = ("--batch", "--threshold"),
    allow_implausible: bool = False,
) -> Rules:
    """``flags``: how the front end spells the batch and threshold options, for the message."""
    thresholds = dict(DEFAULT_THRESHOLD)
    if threshold:
        if len(threshold) == 2:
            thresholds = {1: threshold[0], 2: threshold[1]}
        elif batch in ("1", "2"):
            thresholds[int(batch)] = threshold[0]
        else:
            batch_flag, threshold_flag = flags
            raise UsageError(
                f"a single {threshold_flag} needs {batch_flag} 1 or 2; otherwise give both as T1,T2 (e.g. 1.3,1.25)"
            )
    return Rules(batch=batch, thresholds=thresholds, aggregate=aggregate, allow_implausible=allow_implausible)  # type: ignore[arg-type]


def _field_option(f: Any) -> str:
    return f.metadata.get("option", f.name)


def resolve(cli: Mapping[str, Any], ini: Mapping[str, Any]) -> Settings:
    """Command line over ini file over default, each value through its option's parser."""
    values = {}
    for f in fields(Settings):
        option = BY_NAME[_field_option(f)]
        raw = cli.get(option.name)
        if raw is None or raw is False or raw == ():
            raw = ini.get(option.name)
        if raw is None or raw == "" or raw == []:
            values[f.name] = option.default
            continue
        try:
            values[f.name] = option.parse(raw)
        except UsageError as exc:
            raise UsageError(f"{option.flag}: {exc}") from None
    settings = Settings(**values)
    check(settings)
    return settings


def check(settings: Settings) -> None:
    """Options that contradict each other, refused before any work starts."""
    settings.rules  # noqa: B018 - built once, here: raises on a single threshold without a batch
    if settings.sandbox != "none" and settings.isolate != "process":
        raise UsageError("--flaggems-sandbox needs --flaggems-isolate=process (workers are what it confines)")
    if (settings.dry_run or settings.force) and settings.import_root is None:
        raise UsageError("--flaggems-dry-run and --flaggems-force need --flaggems-import=FLAGGEMS_ROOT")
    if settings.branch is not None and settings.pr_dir is None:
        raise UsageError("--flaggems-branch needs --flaggems-pr-dir (it commits those pull requests)")
    if settings.pr_dir is not None and settings.import_root is None:
        raise UsageError("--flaggems-pr-dir needs --flaggems-import=FLAGGEMS_ROOT (the checkout the patches apply to)")
