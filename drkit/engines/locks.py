"""Per-policy run lock (flock in the state dir): backups, drills, checks and forgets of one policy
never overlap, whether started by the daemon, cron or by hand."""

from __future__ import annotations

import fcntl
import os
from datetime import datetime, timezone
from pathlib import Path

from drkit.core.errors import LockedError, state_writes
from drkit.engines.privacy import private_dirs


class PolicyLock:
    def __init__(self, lock_dir: Path, policy: str, job: str = "run"):
        with state_writes("create the lock directory", lock_dir):
            private_dirs(lock_dir)
        self.path = lock_dir / f"{policy}.lock"
        self.policy = policy
        self.job = job
        self._fd: int | None = None
        self.dead_holder: str | None = None  # set when the previous holder died without releasing

    def acquire(self) -> "PolicyLock":
        with state_writes("take the run lock", self.path):
            return self._acquire()

    def _acquire(self) -> "PolicyLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown holder"
            os.close(fd)
            raise LockedError(f"{self.policy}: already running ({holder})",
                              hint="wait for it to finish, or check `drkit status`") from None
        previous = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        self.dead_holder = previous or None  # release() empties the file; a killed run leaves its line
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{self.job}, pid {os.getpid()} since {stamp}".encode(), 0)
        except OSError:
            os.close(fd)  # closing drops the flock: a run that cannot write its lock line does not start
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "PolicyLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
