"""A collection journal shared by the workers of one session: which operator killed a worker.

Loading an operator's code (and its tests) runs candidate code at collection time. If that ends
the process (``os._exit``, a signal, a segfault), xdist starts a new worker, which would load the
same operator and die the same way. Before loading, a worker leaves a marker naming itself; a
marker whose process is gone means that operator ended a worker while loading. The next worker
then does not run that code again: it reports the operator's ``load`` item as failed, with why.
A worker can also record a verdict on purpose (an operator that started a thread at import).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


class Journal:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _key(self, operator_file: Path) -> str:
        return hashlib.sha1(str(Path(operator_file).resolve()).encode()).hexdigest()[:16]

    def begin(self, operator_file: Path) -> None:
        marker = self.folder / f"{self._key(operator_file)}.loading.{os.getpid()}"
        marker.write_text(str(operator_file))

    def end(self, operator_file: Path) -> None:
        (self.folder / f"{self._key(operator_file)}.loading.{os.getpid()}").unlink(missing_ok=True)

    def fault_log(self, worker: str) -> Path:
        """Where worker ``worker`` (``gw0``) writes fatal errors (faulthandler)."""
        return self.folder / f"fault.{worker}.log"

    def record(self, operator_file: Path, reason: str) -> None:
        path = self.folder / f"{self._key(operator_file)}.verdict"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"reason": reason}))
        os.replace(tmp, path)

    def verdict(self, operator_file: Path) -> str | None:
        """Why this operator must not be loaded again in this session, or ``None``."""
        key = self._key(operator_file)
        recorded = self.folder / f"{key}.verdict"
        if recorded.is_file():
            return json.loads(recorded.read_text())["reason"]
        for marker in self.folder.glob(f"{key}.loading.*"):
            pid = int(marker.name.rsplit(".", 1)[1])
            if pid != os.getpid() and not _alive(pid):
                return "its code or tests ended the worker process while loading (os._exit, a signal or a crash)"
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A dead worker may linger as a zombie until xdist reaps it: count that as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True
