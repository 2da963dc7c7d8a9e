"""Hostile operators next to a good one (SPEC 8, isolation): whatever a candidate does to its
process, it fails alone with a reason naming what it did, the good operator is selected, and the
session files are written. One session runs them all together, as a real batch would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import ADD_ONE_CODE, operator_json, perf

TEST_HEAD = "import os, signal, subprocess, sys, threading, time, ctypes\nimport pytest\nimport torch\n"
OUTSIDE = "os.path.join(os.path.dirname(__file__), 'planted.txt')"  # the ops folder: the user's files


def in_test(entry: str, body: str, *, nth: int = 1, count: int = 1) -> str:
    """A test_func whose ``nth`` of ``count`` tests does ``body`` (the others pass)."""
    return TEST_HEAD + textwrap.dedent(f'''
        from flag_gems.experimental_ops.{entry} import {entry}

        @pytest.mark.parametrize("i", range(1, {count + 1}))
        def test_{entry}(i):
            x = torch.zeros(4, device="cuda")
            torch.testing.assert_close({entry}(x), x + 1)
            if i == {nth}:
                {body}
    ''')


HOSTILE = {
    # op: (what it does, code override or None, test_func, reason fragment the rejection must name)
    "kbd": (in_test("kbd", "raise KeyboardInterrupt", nth=7, count=8), "raised KeyboardInterrupt"),
    "pexit": (in_test("pexit", "pytest.exit('bye')"), "raised Exit: bye"),
    "sigint": (in_test("sigint", "os.kill(os.getpid(), signal.SIGINT); time.sleep(1)"), None),
    "sigkill": (in_test("sigkill", "os.kill(os.getpid(), signal.SIGKILL)"),
                "ended its worker process without a Python error (os._exit, SIGKILL"),
    "segv": (in_test("segv", "ctypes.string_at(0)"), "crashed its worker process (Segmentation fault)"),
    "later": (in_test("later", "threading.Thread(target=lambda: (time.sleep(60), os._exit(3)), daemon=True).start()"),
              "left 1 thread(s) running after its tests"),
    "loop": (in_test("loop", "while True: pass"), "still running after"),
    "modexit": (TEST_HEAD + "sys.exit(3)\n", "test_func does not import: SystemExit: 3"),
    "writes": (in_test("writes", f"open({OUTSIDE}, 'w').write('x')"), "wrote outside its scratch folder"),
    "spawns": (in_test("spawns", "subprocess.run(['true'])"), "started a process: subprocess.Popen (true)"),
    "hog": (in_test("hog", "torch.ones(2**34, dtype=torch.uint8)"), "can't allocate memory"),
}
# Writes in its working directory, home and tmp_path are the candidate's own business: selected.
SCRATCH_OK = in_test("scratch_ok", "open('note.txt', 'w').write('x'); "
                     "open(os.path.expanduser('~/.rc'), 'w').write('x')")
AT_IMPORT = {
    "exit_at_import": ("import os\nos._exit(3)\n", "ended the worker process while loading"),
    "loop_at_import": ("while True:\n    pass\n", "code does not load: OperatorTimeout"),
    "thread_at_import": ("import threading, time, os\n"
                         "threading.Thread(target=lambda: (time.sleep(60), os._exit(3)), daemon=True).start()\n",
                         "started|left 1 thread(s) running at import"),
}  # fmt: skip


def build(folder: Path) -> None:
    ops = folder / "ops"
    ops.mkdir(parents=True)
    names = ["add_one", "scratch_ok", *HOSTILE, *AT_IMPORT]
    for name in names:
        data = operator_json(name)
        if name in HOSTILE:
            data["test_func"] = HOSTILE[name][0]
        if name == "scratch_ok":
            data["test_func"] = SCRATCH_OK
        if name in AT_IMPORT:
            data["code"] = AT_IMPORT[name][0] + ADD_ONE_CODE.format(entry=name)
        (ops / f"{name}.json").write_text(json.dumps(data))
    (folder / "your_perf_data.json").write_text(json.dumps(perf({n: [([8], "fp32", 0.5, 1.0)] for n in names})))


def screen(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cpu",
               "--flaggems-batch=2", "--flaggems-report-dir=out", "--flaggems-timeout=10", "-rf",
               "--flaggems-max-memory=8G", *args]  # fmt: skip
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=1200, check=False)


@pytest.fixture(scope="module", params=[(), ("-n", "2")], ids=["default", "n2"])
def hostile_session(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    build(folder)
    result = screen(folder, *request.param)
    (folder / "stdout.txt").write_text(result.stdout + result.stderr)  # kept for a failure's post-mortem
    session = json.loads((folder / "out" / "session.json").read_text())
    selected = json.loads((folder / "out" / "selected_batch2.json").read_text())
    return result, session, selected


def test_the_good_operator_is_selected_and_no_hostile_one(hostile_session):
    result, session, selected = hostile_session
    # sigint's signal is ignored in its worker (see below): its results are right, it is selected.
    assert sorted(selected["operators"]) == ["add_one", "scratch_ok", "sigint"], result.stdout[-3000:]
    assert session["operators"]["add_one"]["passed"] == 2 and session["operators"]["add_one"]["complete"]
    assert session["partial"] is False
    assert result.returncode == 1  # tests failed; not 0, not a crash of pytest


@pytest.mark.parametrize("op", [*HOSTILE, *AT_IMPORT])
def test_each_hostile_operator_fails_alone_naming_what_it_did(hostile_session, op):
    result, session, selected = hostile_session
    expected = (HOSTILE.get(op) or AT_IMPORT[op])[1]
    if op == "sigint":
        # A worker ignores SIGINT (a real Ctrl-C reaches the controller, which stops the session):
        # the signal it sends itself does nothing, its tests pass, and the session goes on.
        assert session["operators"]["sigint"]["passed"] == 1 and op not in selected["rejected"]
        return
    reason = selected["rejected"][op]
    assert any(part in reason for part in expected.split("|")), reason


def slow_operator(folder: Path) -> None:
    """add_one plus an operator whose test waits (marker file) until the session is interrupted."""
    ops = folder / "ops"
    ops.mkdir(parents=True)
    (ops / "add_one.json").write_text(json.dumps(operator_json("add_one")))
    wait = in_test("slow", f"open({str(folder / 'started')!r}, 'w').close(); time.sleep(600)")
    (ops / "slow.json").write_text(json.dumps(operator_json("slow", test=wait)))
    (folder / "your_perf_data.json").write_text(
        json.dumps(perf({n: [([8], "fp32", 0.5, 1.0)] for n in ("add_one", "slow")}))
    )


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_an_interrupted_session_writes_a_partial_session_and_selects_nothing_incomplete(tmp_path, how):
    slow_operator(tmp_path)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cpu",
               "--flaggems-batch=2", "--flaggems-report-dir=out", "-p", "no:randomly"]  # fmt: skip
    # SIGINT's default action, as in a terminal: a background job of a script (CI's `cmd &`) inherits
    # it ignored, and Python then leaves it ignored.
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.monotonic() + 600  # generous: a loaded machine; the test ends as soon as it starts
    while not (tmp_path / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
        time.sleep(0.2)
    if how == "SIGINT":
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
    else:
        proc.send_signal(signal.SIGTERM)  # a job scheduler stopping pytest
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode != 0, output
    session = json.loads((tmp_path / "out" / "session.json").read_text())
    assert session["partial"] is True and session["interrupted"] is True, output[-2000:]
    assert session["operators"]["slow"]["complete"] is False
    selected = json.loads((tmp_path / "out" / "selected_batch2.json").read_text())
    assert "slow" not in selected["operators"]
    # A re-run completes it (the marker makes its test return at once now).
    (tmp_path / "ops" / "slow.json").write_text(json.dumps(operator_json("slow")))
    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stdout[-2000:]
    assert json.loads((tmp_path / "out" / "session.json").read_text())["partial"] is False
    assert set(json.loads((tmp_path / "out" / "selected_batch2.json").read_text())["operators"]) == {"add_one", "slow"}


def test_the_sandbox_keeps_files_and_network_out_of_reach(tmp_path):
    """``--flaggems-sandbox=bwrap``: a candidate that writes into the user's files or connects out
    fails (read-only file system, no network); nothing reaches the file or the listener."""
    import shutil
    import socket

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (.ci/run installs Debian's bubblewrap)")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    ops = tmp_path / "ops"
    ops.mkdir()
    cases = {
        "add_one": "default",
        "scratch_ok": SCRATCH_OK,
        "writes": HOSTILE["writes"][0],
        "calls_home": in_test("calls_home", f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)"),
    }
    for name, test in cases.items():
        (ops / f"{name}.json").write_text(json.dumps(operator_json(name, test=test)))
    (tmp_path / "your_perf_data.json").write_text(json.dumps(perf({n: [([8], "fp32", 0.5, 1.0)] for n in cases})))
    result = screen(tmp_path, "--flaggems-sandbox=bwrap")
    selected = json.loads((tmp_path / "out" / "selected_batch2.json").read_text())
    assert sorted(selected["operators"]) == ["add_one", "scratch_ok"], result.stdout[-3000:]
    assert "Read-only file system" in selected["rejected"]["writes"]
    assert "calls_home" in selected["rejected"]
    assert not (ops / "planted.txt").exists()
    with pytest.raises(BlockingIOError):
        listener.accept()  # no connection ever arrived
    listener.close()
