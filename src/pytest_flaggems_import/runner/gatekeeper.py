"""The correctness gate from the deciding process (which imports no torch): it starts a fresh
``run`` process per operator (runner.gate, confined as a worker is) and sends the outputs to a
warm ``compare`` process, a referee (one per check that may run at once), which checks the
session's operators one after another.

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
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from pytest_flaggems_import.runner.confine import Confinement, Scratch  # standard library only
from pytest_flaggems_import.runner.gate import VERDICT, cases

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
        with self._lock:
            for attempt in (1, 2):  # a referee that died before this request gets one successor
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
                    if attempt == 2:
                        return {"error": f"compare: {why}"}
            raise AssertionError("unreachable")

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
        deadline = time.monotonic() + self.timeout
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while True:
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.startswith(VERDICT.encode()):
                        return line[len(VERDICT) :].decode()
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise TimeoutError(f"still running after {self.timeout:g} s")
                chunk = os.read(process.stdout.fileno(), 1 << 16)
                if not chunk:
                    raise OSError("the referee ended")
                buffer += chunk

    def _stop(self) -> str:
        """Stop the referee; the last line it wrote to stderr (why it ended, if it did)."""
        process, self._process = self._process, None
        if process is None:
            return "not running"
        with contextlib.suppress(OSError):
            process.kill()
        status = process.wait()
        last = f"exit status {status}"
        if self._stderr is not None:
            self._stderr.seek(0)
            last = (self._stderr.read().decode(errors="replace").strip().splitlines() or [last])[-1]
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
        self._running: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self._closed = False
        # Summed over checks (session.json timing): waiting for a slot, the run process (of which
        # its cases, of which Triton compiling), waiting for a referee and comparing.
        self.seconds = {"queued": 0.0, "run": 0.0, "run_cases": 0.0, "run_compile": 0.0, "compare": 0.0}

    def start(self, operator: Path, configs: list[tuple[list[int], str]]) -> None:
        self._future(operator, configs)

    def verdict(self, operator: Path, configs: list[tuple[list[int], str]]) -> dict[str, Any]:
        return self._future(operator, configs).result()

    @property
    def started(self) -> int:
        return len(self._checks)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            running = list(self._running)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in running:
            with contextlib.suppress(OSError):
                process.kill()
        self._pool.shutdown(wait=True)
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
        with tempfile.TemporaryDirectory(prefix="flaggems-gate-") as folder:
            scratch = Scratch.make(folder, "gate")  # what the candidate's process may write: its outputs too
            outputs = scratch.folder / "outputs.pt"
            memory = [] if self.confinement.max_memory is None else [str(self.confinement.max_memory)]
            argv, env = self.confinement.command([*_MODULE, "run", str(operator), self.device, str(outputs), *memory],
                                                 scratch)  # fmt: skip
            started = time.monotonic()
            done = self._run(argv, env, scratch.folder, json.dumps(case_list))
            self._spent("run", started)
            if "error" in done:
                return done
            self._add_run_timing(done["stdout"])
            started = time.monotonic()
            referee = self._idle.get()
            try:
                return referee.compare(operator, outputs, case_list)
            finally:
                self._idle.put(referee)
                self._spent("compare", started)

    def _add_run_timing(self, stdout: str) -> None:
        """The run's last line: its cases' seconds and Triton's compiling within them. Candidate
        code may print too (even that line): a timing figure, never part of a verdict."""
        try:
            said = json.loads((stdout.strip().splitlines() or ["{}"])[-1])
            cases, compiling = float(said["cases_s"]), float(said["compile_s"])
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            self.seconds["run_cases"] += cases
            self.seconds["run_compile"] += compiling

    def _spent(self, step: str, since: float) -> None:
        with self._lock:
            self.seconds[step] += time.monotonic() - since

    def _run(self, argv: list[str], env: dict[str, str], cwd: Path, stdin: str) -> dict[str, Any]:
        with self._lock:
            if self._closed:
                return {"error": "run: the session ended first"}
            process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)  # fmt: skip
            self._running.add(process)
        try:
            stdout, stderr = process.communicate(stdin, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return {"error": f"run: still running after {self.timeout:g} s"}
        finally:
            with self._lock:
                self._running.discard(process)
        if process.returncode != 0:
            last = (stderr.strip().splitlines() or [f"exit status {process.returncode}"])[-1]
            return {"error": f"run: {last}"}
        return {"stdout": stdout}
