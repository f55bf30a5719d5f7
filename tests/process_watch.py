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


def read_proc(pid_dir: Path, lineage: dict[int, tuple[int, int]] | None) -> ProcEntry | None:
    """argv, and with a `lineage` cache the parent and session (read once per process: every
    read slows the sampler, and a short-lived pg_dump must not slip between two samples)."""
    pid = int(pid_dir.name)
    try:
        argv = (pid_dir / "cmdline").read_bytes()
        if lineage is not None and pid not in lineage:
            fields = (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()
            lineage[pid] = (int(fields[1]), int(fields[3]))
    except (OSError, IndexError):
        return None
    ppid, sid = lineage[pid] if lineage is not None else (0, 0)
    return ProcEntry(pid, ppid, sid, argv)


class ArgvWatch:
    """Samples process argv every few milliseconds while it runs: every process on the host, or
    (`tree=True`, then `watch(pid)`) only drkit's tree — its children, theirs, and what they started in sessions of
    their own (a database server started by pg_ctl outlives its parent, but keeps its session)."""

    def __init__(self, secrets: list[str], interval: float = 0.005, *, tree: bool = False):
        self.secrets = [s.encode() for s in secrets if s]
        self.interval = interval
        self.seen: set[str] = set()     # program names seen (of the watched tree, when one is watched)
        self.leaks: list[str] = []
        self.samples = 0
        self.tree = tree                # only the trees of watch(pid): nothing counts before the first
        self._roots: set[int] = set()
        self._tree: set[int] = set()
        self._sessions: set[int] = set()
        self._lineage: dict[int, tuple[int, int]] = {}
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

    def until_seen(self, programs: set[str], step, attempts: int = 3) -> None:
        """Repeat `step` until every program in `programs` was sampled at least once: a dump of a
        small database can start and end between two samples on a loaded machine."""
        for _ in range(attempts):
            if programs <= self.seen:
                return
            step()

    def _sample(self) -> None:
        while not self._stop.is_set():
            lineage = self._lineage if self.tree else None
            entries = [e for e in (read_proc(p, lineage) for p in Path("/proc").glob("[0-9]*")) if e is not None]
            for entry in self._watched(entries):
                self.seen.add(Path(entry.argv.split(b"\0", 1)[0].decode(errors="replace")).name)
                if any(secret in entry.argv for secret in self.secrets):
                    self.leaks.append(entry.argv.replace(b"\0", b" ").decode(errors="replace"))
            self.samples += 1
            time.sleep(self.interval)

    def _watched(self, entries: list[ProcEntry]) -> list[ProcEntry]:
        if not self.tree:
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
