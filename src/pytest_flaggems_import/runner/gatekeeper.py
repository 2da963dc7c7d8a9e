"""The correctness gate from the deciding process (which imports no torch): each operator's
code runs in a ``run`` process of its own (runner.gate, confined as a worker is), started ahead
as a spare (torch imported, the device's context made) and given its one operator when its check
starts; the outputs go to a warm ``compare`` process, a referee (one per check that may run at
once), which checks the session's operators one after another.

Checks start as soon as the session knows an operator is likely to be selected (plugin.gating,
while other operators are still tested), a few at a time; the final selection waits for the
ones it needs and starts any not started yet. A verdict is keyed by everything it depends on
(operator file, device, cases), so one started early is the verdict a late start would give.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from pytest_flaggems_import.runner.confine import Confinement, Scratch  # standard library only
from pytest_flaggems_import.runner.gate import READY, VERDICT, cases

_MODULE = ["-m", "pytest_flaggems_import.runner.gate"]


class Referee:
    """The warm ``compare`` process, started on first use, restarted if it ever dies or hangs.
    One request at a time (a lock): each is a few ATen calls on small inputs."""

    def __init__(self, device: str, timeout: float) -> None:
        self.device, self.timeout = device, timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._lock = threading.Lock()

    def compare(self, operator: Path, outputs: Path, case_list: list[dict[str, Any]]) -> dict[str, Any]:
        request = json.dumps({"operator": str(operator), "outputs": str(outputs), "cases": case_list}) + "\n"
        why = ""
        with self._lock:
            for _attempt in (1, 2):  # a referee that died before this request gets one successor
                process = self._started()
                try:
                    assert process.stdin is not None
                    process.stdin.write(request.encode())
                    process.stdin.flush()
                    return json.loads(self._answer(process))
                except TimeoutError as exc:
                    self._stop()
                    return {"error": f"compare: {exc}"}
                except OSError:
                    why = self._stop()
        return {"error": f"compare: {why}"}

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the referee
            self._process = subprocess.Popen(
                [sys.executable, *_MODULE, "serve", self.device],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            )  # fmt: skip
        return self._process

    def _answer(self, process: subprocess.Popen[bytes]) -> str:
        """The next verdict line, within the time-out; OSError if the referee ended."""
        assert process.stdout is not None
        for line in _lines(process.stdout, self.timeout, 1 << 16):
            if line.startswith(VERDICT.encode()):
                return line[len(VERDICT) :].decode()
        raise OSError("the referee ended")

    def _stop(self) -> str:
        """Stop the referee; the last line it wrote to stderr (why it ended, if it did)."""
        process, self._process = self._process, None
        if process is None:
            return "not running"
        with contextlib.suppress(OSError):
            process.kill()
        status = process.wait()
        if self._stderr is None:
            return f"exit status {status}"
        last = _last_line(self._stderr, f"exit status {status}")
        self._stderr.close()
        return last


class Gatekeeper:
    """Gate checks for one session: ``start`` one (idempotent), ``verdict`` waits for it, ``close``
    ends what is still running (an interrupted session waits for none of them)."""

    def __init__(self, device: str, timeout: float, confinement: Confinement, at_once: int) -> None:
        self.device, self.timeout, self.confinement = device, timeout, confinement
        # One referee per check that may run at once: each stays warm for the session's later checks.
        self.referees = [Referee(device, timeout) for _ in range(at_once)]
        self._idle: queue.SimpleQueue[Referee] = queue.SimpleQueue()
        for referee in self.referees:
            self._idle.put(referee)
        self._pool = ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="flaggems-gate")
        self._checks: dict[tuple[str, str], Future[dict[str, Any]]] = {}
        self.at_once = at_once
        self.unfinished_at_tests_end: int | None = None  # checks started and not done when tests ended
        self._spares: list[_Spare] = []  # run processes started ahead, waiting for an operator
        # One per check that may run at once, from the first check on (started then, not
        # before: a session without checks starts none); once only the gate is left, no more
        # than the checks still to come. Idle spares hold a CUDA context and run nothing: the
        # timing flips once blamed on them came from rotated inputs that fit in L2 (bench.input_copies).
        self._spares_wanted = at_once
        self._alive: set[_Spare] = set()  # every run process started and not yet closed
        self._lock = threading.Lock()
        self._closed = False
        # Summed over checks (session.json timing): waiting for a slot, the run process (of which
        # its cases, of which Triton compiling and waiting for the GPU), waiting for a referee and
        # comparing.
        self.seconds = {"queued": 0.0, "run": 0.0, "run_cases": 0.0, "run_compile": 0.0, "run_wait": 0.0, "compare": 0.0}

    def start(self, operator: Path, configs: list[tuple[list[int], str]]) -> None:
        self._future(operator, configs)

    def tests_over(self, checks_left: int) -> None:
        """Only the gate is left: keep run processes warm, as many as checks may run at once (at
        most one per check still to come)."""
        with self._lock:
            if self.unfinished_at_tests_end is None:
                self.unfinished_at_tests_end = sum(not check.done() for check in self._checks.values())
            self._spares_wanted = min(self.at_once, checks_left)
            if not self._closed:
                while len(self._spares) < self._spares_wanted:
                    self._spares.append(self._start_spare())

    def verdict(self, operator: Path, configs: list[tuple[list[int], str]]) -> dict[str, Any]:
        return self._future(operator, configs).result()

    @property
    def started(self) -> int:
        return len(self._checks)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            alive = list(self._alive)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for spare in alive:
            spare.kill()
        self._pool.shutdown(wait=True)
        for spare in alive:
            self._retire(spare)
        for referee in self.referees:
            referee.close()

    def _future(self, operator: Path, configs: list[tuple[list[int], str]]) -> Future[dict[str, Any]]:
        case_list = cases(configs, self.device)
        key = (str(operator.resolve()), json.dumps(case_list))
        with self._lock:
            if key not in self._checks:
                self._checks[key] = self._pool.submit(self._check, operator.resolve(), case_list, time.monotonic())
            return self._checks[key]

    def _check(self, operator: Path, case_list: list[dict[str, Any]], submitted: float) -> dict[str, Any]:
        """Both steps for one operator; ``error`` set when the gate itself could not finish."""
        self._spent("queued", submitted)
        started = time.monotonic()
        done = self._run(operator, case_list)
        self._spent("run", started)
        if "error" in done:
            return done
        self._add_run_timing(done["stdout"])
        started = time.monotonic()
        referee = self._idle.get()
        try:
            return referee.compare(operator, done["outputs"], case_list)
        finally:
            self._idle.put(referee)
            self._spent("compare", started)
            self._retire(done["spare"])

    def _run(self, operator: Path, case_list: list[dict[str, Any]]) -> dict[str, Any]:
        """The candidate's run, in a spare process (started ahead, so its torch start is not
        waited for)."""
        spare = self._handed(operator, case_list)
        if isinstance(spare, str):
            return {"error": f"run: {spare}"}
        try:
            stdout, _ = spare.process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._retire(spare)
            return {"error": f"run: still running after {self.timeout:g} s"}
        if spare.process.returncode != 0:
            why = spare.last_words()
            self._retire(spare)
            return {"error": f"run: {why}"}
        return {"stdout": stdout.decode(errors="replace"), "outputs": spare.outputs, "spare": spare}

    def _handed(self, operator: Path, case_list: list[dict[str, Any]]) -> _Spare | str:
        """A spare that took this operator's request, or why none did. One that ended before the
        operator reached it is not the operator's doing: replaced, once."""
        why = "the session ended first"
        for _attempt in (1, 2):
            spare = self._spare()
            if spare is None:
                return "the session ended first"
            request = {"operator": str(operator), "out": str(spare.outputs), "cases": case_list}
            try:
                if spare.given(json.dumps(request).encode() + b"\n", self.timeout):
                    return spare
                why = spare.last_words()
            except TimeoutError as exc:  # never said it was ready
                self._retire(spare)
                return str(exc)
            self._retire(spare)
        return why

    def _spare(self) -> _Spare | None:
        """A started run process for this check; others started to take its place, so the next
        checks find theirs warm."""
        with self._lock:
            if self._closed:
                return None
            spare = self._spares.pop(0) if self._spares else self._start_spare()
            while len(self._spares) < self._spares_wanted:
                self._spares.append(self._start_spare())
            return spare

    def _retire(self, spare: _Spare) -> None:
        spare.close()
        with self._lock:
            self._alive.discard(spare)

    def _start_spare(self) -> _Spare:
        """Under the lock."""
        folder = tempfile.mkdtemp(prefix="flaggems-gate-")
        scratch = Scratch.make(folder, "gate")  # what the candidate's process may write: its outputs too
        memory = [] if self.confinement.max_memory is None else [str(self.confinement.max_memory)]
        argv, env = self.confinement.command([*_MODULE, "run", self.device, *memory], scratch)
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the spare
        process = subprocess.Popen(argv, cwd=scratch.folder, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=stderr)  # fmt: skip
        spare = _Spare(process, stderr, Path(folder), scratch.folder / "outputs.pt")
        self._alive.add(spare)
        return spare

    def _add_run_timing(self, stdout: str) -> None:
        """The run's last line: its cases' seconds and Triton's compiling within them. Candidate
        code may print too (even that line): a timing figure, never part of a verdict."""
        try:
            said = json.loads((stdout.strip().splitlines() or ["{}"])[-1])
            cases, compiling, waiting = float(said["cases_s"]), float(said["compile_s"]), float(said["wait_s"])
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            self.seconds["run_cases"] += cases
            self.seconds["run_compile"] += compiling
            self.seconds["run_wait"] += waiting

    def _spent(self, step: str, since: float) -> None:
        with self._lock:
            self.seconds[step] += time.monotonic() - since


class _Spare:
    """A ``gate run`` process started ahead of its operator: torch imported, the device's context
    made, waiting on stdin. Each runs one operator's check, in its own scratch folder."""

    def __init__(self, process: subprocess.Popen[bytes], stderr: IO[bytes], folder: Path, outputs: Path) -> None:
        self.process, self.stderr, self.folder, self.outputs = process, stderr, folder, outputs

    def given(self, request: bytes, timeout: float) -> bool:
        """Whether it took ``request``: ready, and alive to read it (False: it ended first)."""
        if not self._ready(timeout):
            return False
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(request)
            self.process.stdin.flush()
        except OSError:  # a broken pipe: it ended after saying it was ready
            return False
        return True

    def _ready(self, timeout: float) -> bool:
        """True once it says it is ready; False if it ended first. Reads its stdout a byte at a
        time, so that what follows is left for ``communicate``."""
        assert self.process.stdout is not None
        with contextlib.closing(_lines(self.process.stdout, timeout, 1)) as lines:
            first = next(lines, None)
        return first is not None and first.strip().decode(errors="replace") == READY

    def last_words(self) -> str:
        """The last line it wrote to stderr once it ended (why, mostly)."""
        return _last_line(self.stderr, f"exit status {self.process.wait()}")

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()

    def close(self) -> None:
        self.kill()
        with contextlib.suppress(OSError, ValueError, subprocess.TimeoutExpired):
            self.process.communicate(timeout=10)
        self.stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _lines(stream: IO[bytes], timeout: float, chunk: int) -> Generator[bytes, None, None]:
    """The lines a process writes to ``stream`` (a pipe), read ``chunk`` bytes at a time; ends
    when the process closes it, TimeoutError once ``timeout`` seconds have passed in all."""
    deadline, buffer = time.monotonic() + timeout, b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while True:
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                yield line
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise TimeoutError(f"still running after {timeout:g} s")
            data = os.read(stream.fileno(), chunk)
            if not data:
                return
            buffer += data


def _last_line(stderr: IO[bytes], otherwise: str) -> str:
    """The last line written to a process's stderr file (why it ended, mostly), or ``otherwise``."""
    stderr.seek(0)
    said = stderr.read().decode(errors="replace").strip().splitlines()
    return said[-1] if said else otherwise
