"""Apply a set of file changes all-or-nothing, under a lock, with a diff for dry runs.

Everything is staged in temporary files beside the targets first; only then are they moved into
place with ``os.replace``. Any failure puts back the previous contents and removes what was
created, so the checkout is byte-identical to before (the idea of pytest's ``cacheprovider``).
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FileChange:
    path: Path
    old: str | None  # None: the file does not exist yet
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def unified_diff(changes: Sequence[FileChange], root: Path) -> str:
    out = []
    for change in changes:
        if not change.changed:
            continue
        name = os.path.relpath(change.path, root)
        if change.old is None and not change.new:
            out.append(f"new empty file b/{name}\n")  # difflib shows nothing for it
            continue
        old = (change.old or "").splitlines(True)
        out += difflib.unified_diff(
            old, change.new.splitlines(True), "/dev/null" if change.old is None else f"a/{name}", f"b/{name}"
        )
    return "".join(out)


@contextlib.contextmanager
def locked(package: Path) -> Iterator[None]:
    """An exclusive lock per checkout: ``flock`` on its ``flag_gems`` package folder itself.

    The folder is the checkout's identity whatever spelling of the root (``ROOT``, ``ROOT/src``,
    a symlink) or ``TMPDIR`` each process has, and locking it writes nothing (a dry run leaves no
    trace). Released when the descriptor closes, also when the process is killed."""
    fd = os.open(package, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _missing_dirs(path: Path) -> list[Path]:
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing


def apply(changes: Sequence[FileChange]) -> None:
    """Write every changed file, or none of them."""
    todo = [c for c in changes if c.changed]
    created_dirs: list[Path] = []
    staged: list[tuple[FileChange, Path]] = []
    done: list[FileChange] = []
    try:
        for change in todo:
            missing = _missing_dirs(change.path)
            change.path.parent.mkdir(parents=True, exist_ok=True)
            created_dirs += missing
            fd, tmp = tempfile.mkstemp(prefix=f".{change.path.name}.", suffix=".tmp", dir=change.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(change.new)
            os.chmod(tmp, 0o644)
            staged.append((change, Path(tmp)))
        for change, tmp in staged:
            os.replace(tmp, change.path)
            done.append(change)
    except BaseException:
        _roll_back(done, staged, created_dirs)
        raise


def _roll_back(done: list[FileChange], staged: list[tuple[FileChange, Path]], created_dirs: list[Path]) -> None:
    for change in reversed(done):
        if change.old is None:
            change.path.unlink(missing_ok=True)
        else:
            change.path.write_text(change.old, encoding="utf-8")
    for _, tmp in staged:
        tmp.unlink(missing_ok=True)
    for folder in sorted(set(created_dirs), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()
