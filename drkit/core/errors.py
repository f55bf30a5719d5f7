"""Typed errors. Each carries the exit code the CLI returns and a one-line, actionable message.

Exit codes (README and `drkit --help` document the same table):
0 done, every target met · 1 could not complete · 2 usage or policy error ·
3 objective breached · 4 verification failed · 5 another run holds the lock.
"""

from __future__ import annotations

import errno
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Iterator


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    BREACH = 3
    VERIFY_FAILED = 4
    LOCKED = 5


class DrkitError(Exception):
    """Base class: `str(err)` is the one-line message shown to the user."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} ({hint})")


class UsageError(DrkitError):
    exit_code = ExitCode.USAGE


class PolicyError(DrkitError):
    """One or more policy problems; `problems` holds every `FILE:LINE: field: message` line."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[str]):
        self.problems = [one_line(p) for p in problems]
        super().__init__("\n".join(self.problems))


def one_line(text: str) -> str:
    """Messages quote what a user wrote (a key, a path, a phrase); a newline, control character or
    lone surrogate in it must neither split the line nor break printing: escape those, as repr does."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class BreachError(DrkitError):
    exit_code = ExitCode.BREACH


class VerificationError(DrkitError):
    exit_code = ExitCode.VERIFY_FAILED


class LockedError(DrkitError):
    exit_code = ExitCode.LOCKED


# --- could-not-complete family (exit 1) -------------------------------------------------

class ResticError(DrkitError):
    """restic failed; subclasses say why (classified from exit code and stderr)."""


class ResticNotFound(ResticError):
    pass


class ResticTooOld(ResticError):
    pass


class WrongPassword(ResticError):
    pass


class NoRepository(ResticError):
    pass


class RepositoryLocked(ResticError):
    pass


class Unreachable(ResticError):
    pass


class ResticTimeout(ResticError):
    pass


class PartialBackup(ResticError):
    """restic exit 3: a snapshot was made but some files could not be read."""


class RepositoryDamaged(ResticError):
    exit_code = ExitCode.VERIFY_FAILED


class SourceMissing(DrkitError):
    pass


class S3Error(DrkitError):
    code: str = ""  # the S3 error code, when S3 answered


class Interrupted(DrkitError):
    pass


class StateError(DrkitError):
    """Local state could not be written or read: the state directory (catalog, evidence key,
    staging, locks) or a drill sandbox is full, read-only or not ours. One line naming the path
    and the cause (docs/reliability.md, "State-directory faults")."""

    def __init__(self, doing: str, path: Path | str, cause: str, *, hint: str | None = None):
        self.path = Path(path)
        super().__init__(f"cannot {doing}: {path}: {cause}", hint=hint)


_HINTS = {
    errno.ENOSPC: "free space on that file system, or pass {other} on another one",
    errno.EDQUOT: "raise the disk quota, or pass {other} on another file system",
    errno.EACCES: "check the owner and mode of that directory, run drkit as its owner, or pass {other}",
    errno.EPERM: "check the owner and mode of that directory, run drkit as its owner, or pass {other}",
    errno.EROFS: "that file system is mounted read-only; pass {other} on a writable one",
}


def hint_for(code: int | None, other: str = "--state-dir DIR") -> str | None:
    """What to do about a failed write of local state, by errno; `other` names the option that moves it."""
    hint = _HINTS.get(code or 0)
    return hint.format(other=other) if hint else None


@contextmanager
def state_writes(doing: str, path: Path, *, other: str = "--state-dir DIR") -> Iterator[None]:
    """Turn an OSError of local state I/O (ENOSPC, EACCES, EROFS, ...) into a StateError naming
    the file (the OSError's own file name when it has one, else `path`)."""
    try:
        yield
    except OSError as exc:
        raise StateError(doing, exc.filename or path, exc.strerror or str(exc),
                         hint=hint_for(exc.errno, other)) from exc
