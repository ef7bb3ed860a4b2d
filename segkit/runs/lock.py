"""The run directory's lock: an exclusive, non-blocking OS file lock on ``run_dir/.lock``."""
from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["RunLock", "RunLockedError", "pid_alive"]


class RunLockedError(RuntimeError):
    """Another live process trains into this run directory."""


class RunLock:
    """An exclusive, non-blocking OS lock on ``run_dir/.lock``.

    The file holds the holder's PID, host and start time. The OS drops the lock when its
    process dies, so a lock left by a killed process is simply taken over (``stale`` then
    names the previous holder). The file is truncated, not deleted, on release: deleting a
    lock file races with a process that opened it a moment earlier.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.stale: dict[str, Any] | None = None
        self._fh: Any = None

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            _os_lock(fh)
        except OSError:
            fh.close()
            holder = _read_holder(self.path)
            who = (f"PID {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}"
                   if holder else "another process")
            raise RunLockedError(f"run directory {self.path.parent} is locked by {who}: a training is writing "
                                 "there; wait for it to finish or choose another run_dir") from None
        previous = _read_holder(self.path)
        if previous and previous.get("pid") != os.getpid():
            self.stale = previous
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is None:
            return
        try:
            self._fh.seek(0)
            self._fh.truncate()
            self._fh.flush()
            _os_unlock(self._fh)
        finally:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8").strip()
        return json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _os_lock(fh: Any) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)

    def _os_unlock(fh: Any) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _os_lock(fh: Any) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _os_unlock(fh: Any) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

