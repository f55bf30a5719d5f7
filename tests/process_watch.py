"""Sampling /proc/*/cmdline while drkit runs: argv is readable by every local user, so no secret may
ever appear in it (docs/security.md, "Secrets on this host")."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcEntry:
    pid: int
    ppid: int
    sid: int
    argv: bytes


def read_proc(pid_dir: Path) -> ProcEntry | None:
    try:
        argv = (pid_dir / "cmdline").read_bytes()
        fields = (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return ProcEntry(int(pid_dir.name), int(fields[1]), int(fields[3]), argv)


class ArgvWatch:
    """Samples process argv every few milliseconds while it runs: every process on the host, or
    (`watch(pid)`) only drkit's tree — its children, theirs, and what they started in sessions of
    their own (a database server started by pg_ctl outlives its parent, but keeps its session)."""

    def __init__(self, secrets: list[str], interval: float = 0.005):
        self.secrets = [s.encode() for s in secrets if s]
        self.interval = interval
        self.seen: set[str] = set()     # program names seen (of the watched tree, when one is watched)
        self.leaks: list[str] = []
        self.samples = 0
        self._roots: set[int] = set()
        self._tree: set[int] = set()
        self._sessions: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def watch(self, pid: int) -> None:
        """From now on, only `pid` and its descendants count."""
        self._roots.add(pid)
        self._tree.add(pid)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            entries = [e for e in map(read_proc, Path("/proc").glob("[0-9]*")) if e is not None]
            for entry in self._watched(entries):
                self.seen.add(Path(entry.argv.split(b"\0", 1)[0].decode(errors="replace")).name)
                if any(secret in entry.argv for secret in self.secrets):
                    self.leaks.append(entry.argv.replace(b"\0", b" ").decode(errors="replace"))
            self.samples += 1
            time.sleep(self.interval)

    def _watched(self, entries: list[ProcEntry]) -> list[ProcEntry]:
        if not self._roots:
            return entries
        grown = True
        while grown:  # children listed before their parents join on a later pass
            before = len(self._tree)
            for e in entries:
                if e.ppid in self._tree or e.sid in self._sessions:
                    self._tree.add(e.pid)
                    if e.sid == e.pid:
                        self._sessions.add(e.sid)  # a session of drkit's own making
            grown = len(self._tree) > before
        return [e for e in entries if e.pid in self._tree]
