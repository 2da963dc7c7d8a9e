"""Where candidate code runs on the user's machine, and what it did there besides computing.

- ``Scratch``: candidate code runs with a scratch working directory and ``HOME`` (its relative
  writes and dot-files land there, not in the user's checkout or home); Triton's and FlagGems'
  caches stay where they were (``pin_caches``), so isolation does not cost a recompile.
- ``watching``: while candidate code runs, an audit hook (PEP 578) notes each file it opens for
  writing (or removes, renames, ...) outside the scratch folder and pytest's temporary folder,
  and each process it starts. An event is the candidate's when the innermost frame outside the
  standard library is candidate code (``<operator file>::code`` or ``::test_func``): Triton
  running ``ptxas`` or building its launcher, or FlagGems writing its code cache, is not.
- ``limit_memory``: ``--flaggems-max-memory``, as ``RLIMIT_DATA`` (heap and private mappings),
  so a blow-up fails with the allocator's error instead of the machine's OOM killer.

The hook reports; it does not prevent (C code, ctypes and ``os.write`` on an inherited descriptor
go unseen). Prevention is the sandbox: ``--flaggems-sandbox=bwrap`` (``sandbox_command``).
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shlex
import shutil
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATE_SOURCES = ("::code", "::test_func")  # runner.isolate.source_name
_STDLIB = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
# Audit events that change the file system, and which of their arguments are paths.
_PATH_EVENTS = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.link": (1,),
    "os.symlink": (1,), "os.truncate": (0,), "os.chmod": (0,), "os.chown": (0,), "shutil.rmtree": (0,),
}  # fmt: skip
_SPAWN_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
})  # fmt: skip
_HARMLESS = ("/dev/null", "/dev/stdout", "/dev/stderr")


@dataclass
class _Watch:
    sink: list[str] | None = None  # where events go while candidate code runs; None: not watching
    allowed: tuple[str, ...] = ()
    installed: bool = False


_WATCH = _Watch()


@dataclass
class Scratch:
    """A worker's scratch folder: the working directory and ``HOME`` of candidate code."""

    folder: Path
    extra_allowed: list[Path] = field(default_factory=list)  # pytest's tmp_path root, once known

    @classmethod
    def make(cls, parent: str | Path | None, name: str) -> Scratch:
        folder = Path(parent or os.environ.get("TMPDIR", "/tmp")) / f"scratch-{name}-{os.getpid()}"
        (folder / "home").mkdir(parents=True, exist_ok=True)
        return cls(folder.resolve())

    @property
    def home(self) -> Path:
        return self.folder / "home"

    def allowed(self) -> tuple[str, ...]:
        return tuple(str(p) for p in (self.folder, *self.extra_allowed))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def pin_caches() -> None:
    """Keep Triton's and FlagGems' caches at their usual place once ``HOME`` points elsewhere."""
    home = os.path.expanduser("~")
    os.environ.setdefault("TRITON_HOME", home)
    os.environ.setdefault("FLAGGEMS_CACHE_DIR", os.path.join(home, ".flaggems"))


@contextlib.contextmanager
def confined(scratch: Scratch | None, sink: list[str]) -> Iterator[None]:
    """Run the block as candidate code: in ``scratch``, its side effects noted into ``sink``."""
    if scratch is None:
        yield
        return
    _install()
    cwd, home, watch = os.getcwd(), os.environ.get("HOME"), (_WATCH.sink, _WATCH.allowed)
    os.chdir(scratch.folder)
    os.environ["HOME"] = str(scratch.home)
    _WATCH.sink, _WATCH.allowed = sink, scratch.allowed()
    try:
        yield
    finally:
        _WATCH.sink, _WATCH.allowed = watch
        os.chdir(cwd)
        if home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = home


def _install() -> None:
    if not _WATCH.installed:
        sys.addaudithook(_on_event)  # for the life of the process: audit hooks cannot be removed
        _WATCH.installed = True


def _on_event(event: str, args: tuple[Any, ...]) -> None:
    sink = _WATCH.sink
    if sink is None:
        return
    if event == "open":
        path, mode, flags = args
        if _writes(mode, flags) and not isinstance(path, int) and _outside(path) and _by_candidate():
            sink.append(f"wrote outside its scratch folder: {os.fsdecode(path)}")
    elif event in _PATH_EVENTS:
        paths = [args[i] for i in _PATH_EVENTS[event] if i < len(args) and isinstance(args[i], (str, bytes, os.PathLike))]
        outside = [os.fsdecode(p) for p in paths if _outside(p)]
        if outside and _by_candidate():
            sink.append(f"changed files outside its scratch folder: {event}({', '.join(outside)})")
    elif event in _SPAWN_EVENTS and _by_candidate():
        sink.append(f"started a process: {event}{_command(event, args)}")


def _writes(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and flags >= 0 and bool(flags & _WRITE_FLAGS)


def _outside(path: Any) -> bool:
    where = os.path.realpath(os.fsdecode(path))
    if where in _HARMLESS:
        return False
    return not any(where == root or where.startswith(root + os.sep) for root in _WATCH.allowed)


def _by_candidate() -> bool:
    """Whether the innermost frame outside the standard library is candidate code."""
    frame = sys._getframe(2)  # skip this function and _on_event
    while frame is not None:
        name = frame.f_code.co_filename
        if name.endswith(CANDIDATE_SOURCES):
            return True
        in_stdlib = name.startswith(_STDLIB) and "-packages" not in name
        if not (in_stdlib or name.startswith("<")):  # "<string>", "<frozen ...>": exec'd, look further out
            return False
        frame = frame.f_back
    return False


def _command(event: str, args: tuple[Any, ...]) -> str:
    if event == "subprocess.Popen" and len(args) > 1:
        argv = args[1]
        return f" ({argv if isinstance(argv, (str, bytes)) else shlex.join(map(os.fsdecode, argv))})"
    if event == "os.system" and args:
        return f" ({os.fsdecode(args[0])})"
    return ""


# -- memory --------------------------------------------------------------------------------
def data_in_use() -> int:
    """This process's data segment now (``VmData``): what ``RLIMIT_DATA`` counts."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmData:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def limit_memory(limit: int) -> str | None:
    """Cap this process's data segment at ``limit`` bytes; returns why it could not, or None."""
    in_use = data_in_use()
    if in_use and in_use >= limit:
        return f"this worker already uses {in_use / 2**20:.0f} MiB, more than --flaggems-max-memory"
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY and hard < limit:
        limit = hard
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    return None


# -- sandbox -------------------------------------------------------------------------------
def cache_folders() -> list[Path]:
    """Triton's and FlagGems' caches (after ``pin_caches``): writable inside the sandbox too."""
    pin_caches()
    return [Path(os.environ["TRITON_HOME"]) / ".triton", Path(os.environ["FLAGGEMS_CACHE_DIR"])]


def sandbox_argv(writable: list[Path], tmpdir: Path, python: str = sys.executable, chdir: Path | None = None) -> list[str]:
    """The command that starts ``python`` under bubblewrap: the whole file system read-only except
    ``writable`` (``tmpdir``, its ``TMPDIR``, among them), no network; GPU device files passed
    through. ``/tmp`` stays visible (read-only): checkouts and virtual environments live there too."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        from pytest_flaggems_import.errors import UsageError

        raise UsageError("--flaggems-sandbox=bwrap needs bubblewrap (Debian: apt install bubblewrap)")
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for device in sorted(Path("/dev").glob("nvidia*")):
        args += ["--dev-bind", str(device), str(device)]
    for path in (tmpdir, *writable):
        path.mkdir(parents=True, exist_ok=True)
        args += ["--bind", str(path), str(path)]
    args += ["--setenv", "TMPDIR", str(tmpdir), "--unshare-net", "--unshare-ipc", "--die-with-parent"]
    return [*args, "--chdir", str(chdir or os.getcwd()), python]


def sandbox_command(writable: list[Path], tmpdir: Path, python: str = sys.executable) -> str:
    """``sandbox_argv`` as one command line (xdist's ``--tx popen//python=...``)."""
    return shlex.join(sandbox_argv(writable, tmpdir, python))


# -- one-off candidate processes -----------------------------------------------------------
@dataclass(frozen=True)
class Confinement:
    """How a one-off process that runs candidate code (the gate's) is confined, as a worker is:
    a scratch working directory and ``HOME`` (caches pinned), ``--flaggems-max-memory`` (applied by
    the process itself: ``limit_memory`` before it imports torch) and ``--flaggems-sandbox``."""

    sandbox: bool = False
    max_memory: int | None = None

    def command(self, python_args: list[str], scratch: Scratch) -> tuple[list[str], dict[str, str]]:
        """The argv and environment that run ``python python_args`` in ``scratch`` (its working
        directory, which the caller sets, and ``HOME``; under the sandbox, all it may write)."""
        pin_caches()
        env = {**os.environ, "HOME": str(scratch.home)}
        if not self.sandbox:
            return [sys.executable, *python_args], env
        python = sandbox_argv([scratch.folder, *cache_folders()], scratch.folder / "tmp", chdir=scratch.folder)
        return [*python, *python_args], env
