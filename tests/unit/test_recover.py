"""``transaction.apply``'s rollback and ``transaction.recover``: the state a killed import leaves (its journal, some targets already
replaced, staged files, new folders) put back as it was, in-process. The kill itself is tested in
tests/importer (kill -9 at five points, in subprocesses); this pins what recovery does to each
kind of file, so a mutation run, which cannot see into subprocesses, sees it too."""

from __future__ import annotations

import json

import pytest

from pytest_flaggems_import.importer import transaction


def crashed_state(tmp_path):
    """Files as an import killed between two ``os.replace`` calls leaves them."""
    pkg = tmp_path / "flag_gems"
    pkg.mkdir()
    replaced, untouched, new_file = pkg / "__init__.py", pkg / "ops.py", pkg / "generated" / "gelu.py"
    replaced.write_text("before: é\n", encoding="utf-8")
    untouched.write_text("ops before\n")
    journal = pkg / ".flaggems-import.journal"
    record = {"files": [[str(replaced), "before: é\n"], [str(untouched), "ops before\n"], [str(new_file), None]],
              "dirs": [str(new_file.parent)]}  # fmt: skip
    journal.write_text(json.dumps(record), encoding="utf-8")
    new_file.parent.mkdir()
    new_file.write_text("def gelu(x):\n    return x\n")  # already moved into place
    replaced.write_text("after\n")  # already moved into place
    transaction._staging_name(untouched).write_text("ops after\n")  # staged, not moved yet
    return pkg, journal, (replaced, untouched, new_file)


def test_a_killed_import_is_put_back_file_by_file(tmp_path):
    pkg, journal, (replaced, untouched, new_file) = crashed_state(tmp_path)
    assert transaction.recover(journal) == [replaced, untouched, new_file]
    assert replaced.read_text(encoding="utf-8") == "before: é\n"
    assert untouched.read_text() == "ops before\n"
    assert not new_file.exists() and not new_file.parent.exists()
    assert sorted(p.name for p in pkg.iterdir()) == ["__init__.py", "ops.py"]  # no journal, nothing staged


def test_no_journal_and_a_journal_cut_short_recover_nothing(tmp_path):
    journal = tmp_path / "journal"
    assert transaction.recover(journal) == []
    journal.write_text('{"files": [["/etc/passwd", nu')  # killed while writing the journal itself
    assert transaction.recover(journal) == [] and not journal.exists()


def test_recovering_twice_changes_nothing_the_second_time(tmp_path):
    pkg, journal, _ = crashed_state(tmp_path)
    transaction.recover(journal)
    before = {p: p.read_bytes() for p in pkg.rglob("*")}
    assert transaction.recover(journal) == []
    assert {p: p.read_bytes() for p in pkg.rglob("*")} == before


def test_a_write_failing_halfway_puts_back_what_it_replaced_and_removes_what_it_created(tmp_path):
    """The in-process rollback: the first file replaced, the second created in new folders, the
    third cannot be written (a folder stands where it goes)."""
    replaced, created, blocked = tmp_path / "a.py", tmp_path / "new" / "deeper" / "b.py", tmp_path / "c.py"
    replaced.write_text("before: é\n", encoding="utf-8")
    blocked.mkdir()
    changes = [transaction.FileChange(replaced, "before: é\n", "after\n"), transaction.FileChange(created, None, "b\n"),
               transaction.FileChange(blocked, None, "c\n")]  # fmt: skip
    journal = tmp_path / "journal"
    with pytest.raises(IsADirectoryError):
        transaction.apply(changes, journal)
    assert replaced.read_text(encoding="utf-8") == "before: é\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "c.py"]  # no new/, no staged file, no journal


class _Killed(BaseException):
    """Stands for SIGKILL: it ends ``apply`` between two moves, and (below) nothing runs after it."""


def test_the_journal_apply_writes_is_what_recover_needs(tmp_path, monkeypatch):
    """``apply`` killed after its first move (no rollback, the journal left, as after kill -9):
    ``recover`` puts back the file replaced, removes the new file and its new folders."""
    pkg = tmp_path / "flag_gems"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("before: é\n", encoding="utf-8")
    new_file = pkg / "generated" / "pointwise" / "gelu.py"
    changes = [transaction.FileChange(pkg / "__init__.py", "before: é\n", "after\n"),
               transaction.FileChange(new_file, None, "def gelu(x):\n    return x\n")]  # fmt: skip
    journal = pkg / ".flaggems-import.journal"
    moves = []

    def replace_then_die(src, dst):  # the journal's move, the first file's, then the kill
        if len(moves) == 2:
            raise _Killed
        moves.append(dst)
        real_replace(src, dst)

    real_replace = transaction.os.replace
    monkeypatch.setattr(transaction.os, "replace", replace_then_die)
    monkeypatch.setattr(transaction, "_roll_back", lambda *args: None)  # a killed process rolls nothing back
    monkeypatch.setattr(transaction.Path, "unlink", lambda self, missing_ok=False: None)
    with pytest.raises(_Killed):
        transaction.apply(changes, journal)
    monkeypatch.undo()
    assert (pkg / "__init__.py").read_text() == "after\n" and journal.exists()  # half-written, as killed
    assert transaction.recover(journal) == [pkg / "__init__.py", new_file]
    assert (pkg / "__init__.py").read_text(encoding="utf-8") == "before: é\n"
    assert sorted(p.name for p in pkg.iterdir()) == ["__init__.py"]  # no new folders, journal or staged file
