"""Apply a set of file changes all-or-nothing, under a lock, with a diff for dry runs.

Everything is staged in temporary files beside the targets first; only then are they moved into
place with ``os.replace``. Any failure puts back the previous contents and removes what was
created, so the checkout is byte-identical to before (the idea of pytest's ``cacheprovider``).

A process killed outright (``kill -9``, a power cut) runs no rollback. So before the first file is
staged, a journal (the targets' previous contents, the folders it creates) is written beside the
package; it is removed when all is in place. The next import into that checkout finds it, under
the lock, and puts the checkout back as it was before the interrupted one (``recover``).
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_flaggems_import.errors import InputError


@dataclass(frozen=True)
class FileChange:
    path: Path
    old: str | None  # None: the file does not exist yet
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


def read_text(path: Path) -> str | None:
    """A checkout file's text, None when it does not exist; not UTF-8 text is an input error."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise InputError(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start}); fix or restore it") from None


def unified_diff(changes: Sequence[FileChange], root: Path) -> str:
    out = []
    for change in changes:
        if not change.changed:
            continue
        name = os.path.relpath(change.path, root)
        if change.old is None and not change.new:
            out.append(f"new empty file b/{name}\n")  # difflib shows nothing for it
            continue
        out += file_diff(change, name)
    return "".join(out)


def file_diff(change: FileChange, name: str) -> list[str]:
    """One file's unified diff (``a/name``, ``b/name``), each line ending in a newline: where the
    file's last line has none, git's marker follows it, as ``git apply`` and ``patch`` expect."""
    lines = difflib.unified_diff(
        (change.old or "").splitlines(True), change.new.splitlines(True),
        "/dev/null" if change.old is None else f"a/{name}", f"b/{name}",
    )  # fmt: skip
    return [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines]


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


def _staging_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.flaggems-import.tmp")


def _write_durably(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def apply(changes: Sequence[FileChange], journal: Path | None = None) -> None:
    """Write every changed file, or none of them; with ``journal``, also across a killed process."""
    todo = [c for c in changes if c.changed]
    created_dirs = sorted({d for c in todo for d in _missing_dirs(c.path)}, key=lambda p: len(p.parts))
    if journal is not None and todo:
        record = {"files": [[str(c.path), c.old] for c in todo], "dirs": [str(d) for d in created_dirs]}
        _write_durably(_staging_name(journal), json.dumps(record))
        os.replace(_staging_name(journal), journal)
    staged: list[tuple[FileChange, Path]] = []
    done: list[FileChange] = []
    try:
        for change in todo:
            change.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = _staging_name(change.path)
            staged.append((change, tmp))
            with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(change.new)
            os.chmod(tmp, 0o644)
        for change, tmp in staged:
            os.replace(tmp, change.path)
            done.append(change)
    except BaseException:
        _roll_back(done, staged, created_dirs)
        if journal is not None:
            journal.unlink(missing_ok=True)
        raise
    if journal is not None:
        journal.unlink(missing_ok=True)


def recover(journal: Path) -> list[Path]:
    """Undo an import that was killed halfway (its journal is still there): every target gets its
    previous content back (or is removed if it was new), staged files and created folders go.
    The paths put back; nothing when there is no journal."""
    try:
        record = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except ValueError:  # killed while writing the journal itself: nothing was staged yet
        journal.unlink(missing_ok=True)
        return []
    changes = [FileChange(Path(path), old, "") for path, old in record["files"]]
    for change in changes:
        if read_text(change.path) != change.old:
            if change.old is None:
                change.path.unlink(missing_ok=True)
            else:
                _write_durably(change.path, change.old)
    _roll_back([], [(c, _staging_name(c.path)) for c in changes], [Path(d) for d in record["dirs"]])
    journal.unlink(missing_ok=True)
    return [c.path for c in changes]


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
