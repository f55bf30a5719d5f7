"""Running restic against one repository: child start and streaming (drkit/engines/process.py),
failures as typed errors (classify.py), timeouts, interruption, and the stale-lock retry."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from drkit.core import errors
from drkit.core.policy import Repository
from drkit.engines import process
from drkit.engines.restic.classify import classify
from drkit.engines.restic.environment import child_env
from drkit.engines.restic.version import find_binary

LOCK_RETRY_DELAYS = (2.0, 5.0, 10.0)
log = logging.getLogger("drkit")
T = TypeVar("T")


@dataclass
class Result:
    returncode: int
    stdout: list[str]
    stderr: str


class ResticRunner:
    """Starts restic for one repository; `Restic` adds one method per restic command."""

    def __init__(self, repo: Repository, *, credentials: dict[str, str] | None = None,
                 cache_dir: Path | None = None, binary: str = "restic", host: str | None = None,
                 source: Repository | None = None,
                 version_cache: Path | None = None, policy: str = "NAME"):
        self.repo = repo
        self.policy = policy  # the policy's name, for the commands in error hints
        self.source = source  # the repository `copy` and `init --from-repo` read from
        self.credentials = credentials or {}
        self.cache_dir = cache_dir
        self.binary = binary
        self.host = host
        self.version_cache = version_cache  # where `version()` remembers the binary's version

    def opened(self, args: list[str]) -> str | None:
        """The one repository a command opens, for its errors; None when it opens the source too."""
        return None if args[:1] == ["copy"] or "--copy-chunker-params" in args else self.repo.name

    def env(self) -> dict[str, str]:
        return child_env(self.repo, self.credentials, self.cache_dir, self.source)

    def stream(self, args: list[str], *, what: str, stdin: IO[bytes] | int | None = None,
               timeout: float | None = None, on_stderr: Callable[[str], None] | None = None,
               ok_codes: Iterable[int] = (0,), outcome: Result | None = None) -> Iterator[str]:
        """Yield stdout lines as restic prints them; raise a typed error on failure.

        `outcome`, when given, receives the exit code and stderr tail once the child has ended.
        """
        return self._supervise(args, process.stream_lines, what=what, stdin=stdin, timeout=timeout,
                               on_stderr=on_stderr, ok_codes=ok_codes, outcome=outcome)

    def stream_bytes(self, args: list[str], *, what: str, timeout: float | None = None) -> Iterator[bytes]:
        """Yield restic's binary stdout in chunks (`restic dump`); raise a typed error on failure."""
        return self._supervise(args, process.stream_chunks, what=what, timeout=timeout)

    def _supervise(self, args: list[str], read: Callable[..., Iterator[T]], *, what: str,
                   stdin: IO[bytes] | int | None = None, timeout: float | None = None,
                   on_stderr: Callable[[str], None] | None = None, ok_codes: Iterable[int] = (0,),
                   outcome: Result | None = None) -> Iterator[T]:
        binary = find_binary(self.binary)
        proc = process.start([binary, *args], env=self.env(), stdin=stdin, label=args[0] if args else "restic")
        ended = process.Ended()
        yield from read(proc, ended, timeout=timeout, on_stderr=on_stderr)
        if ended.timed_out:
            raise errors.ResticTimeout(f"{what}: restic did not finish within {timeout:.0f}s and was stopped")
        if ended.returncode < 0 or (ended.stopped and ended.returncode != 0):
            raise errors.Interrupted(f"{what}: restic was stopped (exit {ended.returncode}) because drkit is shutting down"
                                     if ended.stopped else f"{what}: restic was stopped by signal {-ended.returncode}")
        if ended.returncode not in tuple(ok_codes):
            raise classify(ended.returncode, ended.stderr, what, self.policy, self.opened(args))
        if outcome is not None:
            outcome.returncode = ended.returncode
            outcome.stderr = ended.stderr

    def run(self, args: list[str], *, what: str, timeout: float | None = None,
            ok_codes: Iterable[int] = (0,), retry_lock: bool = True, stdin=None) -> Result:
        """Run to completion (small outputs only); retry stale locks with back-off."""
        def attempt() -> Result:
            outcome = Result(-1, [], "")
            outcome.stdout = list(self.stream(args, what=what, timeout=timeout, ok_codes=ok_codes,
                                              stdin=stdin, outcome=outcome))
            return outcome

        return self.retrying_locks(attempt) if retry_lock else attempt()

    def retrying_locks(self, attempt: Callable[[], T]) -> T:
        """restic 0.14 has no --retry-lock: on "already locked", remove stale locks (`unlock` keeps
        live ones) and try again after 2, 5 and 10 s."""
        delays = list(LOCK_RETRY_DELAYS)
        while True:
            try:
                return attempt()
            except errors.RepositoryLocked as exc:
                if not delays:
                    raise
                self.unlock_stale()
                delay = delays.pop(0)
                log.warning("%s; trying again in %gs", exc, delay)  # says why the run pauses
                time.sleep(delay)

    def unlock_stale(self) -> None:
        """`restic unlock` removes only stale locks (dead pid on this host, or older than 30 min)."""
        try:
            self.run(["unlock"], what="unlock stale locks", timeout=120, retry_lock=False)
        except errors.ResticError:
            pass
