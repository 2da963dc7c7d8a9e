"""The ``pytest11`` entry point: options, configuration and the collection hook.

Hooks here stay thin; state lives in ``FlaggemsSession`` (registered as plugin ``flaggems``).
Without ``--flaggems-ops`` nothing else happens: no torch, triton or flag_gems is imported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_flaggems_import.core.settings import OPTIONS, Settings, resolve
from pytest_flaggems_import.errors import UsageError

CATEGORIES = ("pointwise", "reduction", "blas", "normalization", "index", "conv", "misc")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flaggems", "screening and importing generated FlagGems operators")
    for option in OPTIONS:
        kwargs: dict[str, Any] = {"dest": f"flaggems_{option.name}", "default": None, "help": option.help}
        if option.is_flag:
            kwargs["action"] = "store_true"
        elif option.name == "ops":
            kwargs["action"] = "append"  # --flaggems-ops=A --flaggems-ops=B
        elif option.name == "import":
            kwargs["metavar"] = "FLAGGEMS_ROOT"
        group.addoption(option.flag, **kwargs)
        parser.addini(option.ini, option.help, type="bool" if option.is_flag else "string", default=None)


def _ini_values(config: pytest.Config) -> dict[str, Any]:
    """Ini values, with relative paths taken from the ini file's folder."""
    base = config.inipath.parent if config.inipath else config.rootpath
    values = {}
    for option in OPTIONS:
        value = config.getini(option.ini)
        if value in (None, "", []):
            continue
        if option.parse is Path or option.name == "ops":
            value = " ".join(str(base / p) for p in str(value).split())
        values[option.name] = value
    return values


SETTINGS = pytest.StashKey[Settings]()


def _settings(config: pytest.Config) -> Settings:
    """Resolved once per run (``pytest_cmdline_main`` needs them before ``pytest_configure``)."""
    if SETTINGS not in config.stash:
        cli = {o.name: config.getoption(f"flaggems_{o.name}") for o in OPTIONS}
        try:
            config.stash[SETTINGS] = resolve(cli, _ini_values(config))
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
    return config.stash[SETTINGS]


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """``pytest --flaggems-ops=DIR`` alone starts as ``pytest DIR`` would: with DIR's conftests.
    Without this, pytest would load the invocation folder's ``test*/conftest.py`` first; in a
    FlagGems checkout that is ``tests/conftest.py``, whose hooks expect FlagGems' own test items
    (and which the direct run ``pytest experimental_tests/unit`` never loads)."""
    namespace = early_config.known_args_namespace
    ops = getattr(namespace, "flaggems_ops", None)
    if ops and not namespace.file_or_dir:
        namespace.file_or_dir = list(ops)  # this early parse only; the real one comes later


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> Any:
    """Before xdist reads ``-n``: with ``--flaggems-isolate=process``, ask it for workers."""
    settings = _settings(config)
    if settings.ops and settings.isolate == "process":
        from pytest_flaggems_import.plugin.isolation import enable_workers

        why_not = enable_workers(config)
        if why_not is not None:
            raise pytest.UsageError(
                f"--flaggems-isolate=process runs operators in pytest-xdist workers, but {why_not}; "
                "use --flaggems-isolate=none to run them in this process"
            )
    return (yield)


def pytest_configure(config: pytest.Config) -> None:
    settings = _settings(config)
    if not settings.ops:
        if settings.device == "cpu":
            config.pluginmanager.register(CudaOnCpu(), "flaggems-cuda-on-cpu")
        return
    missing = [str(p) for p in settings.ops if not p.is_dir()]
    if missing:
        raise pytest.UsageError(f"--flaggems-ops: no such folder: {', '.join(missing)}")
    _benchmark_storage_out_of_the_way(config)
    # Only a screening run gets our markers: generic names such as `misc` or `pointwise`,
    # registered in every run, would let --strict-markers miss a typo elsewhere.
    for marker in ("flaggems_batch1", "flaggems_batch2", "flaggems_bench", *CATEGORIES):
        config.addinivalue_line("markers", f"{marker}: added by pytest-flaggems-import")
    from pytest_flaggems_import.plugin.isolation import GPU
    from pytest_flaggems_import.plugin.session import FlaggemsSession
    from pytest_flaggems_import.runner import device

    pinned = getattr(config, "workerinput", {}).get(GPU)
    if pinned is not None:
        # This worker's GPU (plugin.isolation): set before anything here initialises CUDA.
        os.environ["CUDA_VISIBLE_DEVICES"] = pinned
    try:
        # Once, before collection: `cuda` without a GPU is a usage error now, not a traceback
        # after every operator failed to load; TRITON_INTERPRET is set before triton loads.
        where = device.resolve_device(settings.device)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    device.prepare_process(where)
    session = FlaggemsSession(config, settings, where)
    for record in session.records.values():
        # FlagGems' own tests mark each test with its op (@pytest.mark.elu); keep --strict-markers happy.
        config.addinivalue_line("markers", f"{record.op.split('.')[0]}: operator {record.op}")
        if record.category:
            config.addinivalue_line("markers", f"{record.category}: operators of this category")
    config.pluginmanager.register(session, "flaggems")
    _collect_ops_folders(config, settings.ops)


def _benchmark_storage_out_of_the_way(config: pytest.Config) -> None:
    """pytest-benchmark creates its storage folder, ``./.benchmarks``, in every run it is part of,
    saving or not. A screening run saves nothing there (its numbers go to the report folder), so
    unless the user named a storage or asked it to save or compare, point it at one folder per user
    under the temporary directory: no stray ``.benchmarks`` in the user's folder. One shared folder,
    never removed, rather than one per process removed at exit: a process killed before its exit
    handlers ran left its folder behind (hundreds, after a test suite's worth of killed runs)."""
    option = config.option
    if getattr(option, "benchmark_storage", None) != "file://./.benchmarks":
        return  # not installed, or the user's own choice
    if any(getattr(option, name, None) for name in ("benchmark_save", "benchmark_autosave", "benchmark_compare")):
        return
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"flaggems-benchmark-storage-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    option.benchmark_storage = f"file://{folder}"


def _collect_ops_folders(config: pytest.Config, folders: tuple[Path, ...]) -> None:
    """``pytest --flaggems-ops=DIR`` alone collects DIR. Explicit paths are kept as given, and DIR
    is added unless one of them already lies inside it (``pytest DIR/gelu.json`` runs one op)."""
    wanted = [str(p) for p in folders]
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = wanted
        return
    roots = [p.resolve() for p in folders]
    explicit = [Path(a.split("::")[0]).resolve() for a in config.args]
    if not any(root == path or root in path.parents for path in explicit for root in roots):
        config.args.extend(wanted)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    session = parent.config.pluginmanager.get_plugin("flaggems")
    if session is None or file_path.suffix != ".json" or not session.owns(file_path):
        return None
    from pytest_flaggems_import.plugin.items import OperatorFile

    return OperatorFile.from_parent(parent, path=file_path)


class CudaOnCpu:
    """``--flaggems-device=cpu`` without ``--flaggems-ops``: run any CUDA-written test on the CPU,
    e.g. the tests of operators just imported into a FlagGems checkout (SPEC §5, §7)."""

    def __init__(self) -> None:
        from pytest_flaggems_import.runner import device

        device.prepare_process("cpu")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        from pytest_flaggems_import.runner import device

        with device.emulate_cuda():
            return (yield)
