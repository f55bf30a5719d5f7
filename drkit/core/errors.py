"""Typed errors. Each carries the exit code the CLI returns and a one-line, actionable message.

Exit codes (README and `drkit --help` document the same table):
0 done, every target met · 1 could not complete · 2 usage or policy error ·
3 objective breached · 4 verification failed · 5 another run holds the lock.
"""

from __future__ import annotations

import errno
import re
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Iterable, Iterator


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


# FILE:LINE: rest, and a rest that starts with a key path (`targets[0].path`) or a `(label)`
_LINE = re.compile(r"(?P<file>.+?):(?P<line>\d+): (?P<rest>.*)", re.S)
_PATH = re.compile(r"(?P<path>\([a-z ]+\)|[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[\d+\])*): (?P<message>.*)", re.S)


@dataclass(frozen=True)
class Problem:
    """One policy problem. `str()` is the line users read, `FILE:LINE: path: message`; the fields
    are what `drkit policy validate --json` prints (docs/json.md)."""

    file: str | None
    line: int | None
    path: str | None  # a key path (`repository.url`), `(yaml)`, `(file)`, `(top level)`; None: the whole file
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file is not None else ""
        return where + (f"{self.path}: " if self.path else "") + self.message

    @classmethod
    def parse(cls, text: str) -> "Problem":
        """A problem given as its line; `str()` of the result is `text` again, whatever it holds."""
        located = _LINE.fullmatch(text)
        if located is None:
            return cls(None, None, None, text)
        keyed = _PATH.fullmatch(located["rest"])
        path, message = (keyed["path"], keyed["message"]) if keyed else (None, located["rest"])
        return cls(located["file"], int(located["line"]), path, message)

    def as_dict(self) -> dict[str, str | int | None]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message}


class PolicyError(DrkitError):
    """One or more policy problems; `problems` holds every one as a `Problem` (lines given as text
    are parsed into one, so `str()` of each is still the line)."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: Iterable[Problem | str]):
        self.problems = [_one_line_problem(p) for p in problems]
        super().__init__("\n".join(map(str, self.problems)))


def one_line(text: str) -> str:
    """Messages quote what a user wrote (a key, a path, a phrase); a newline, control character or
    lone surrogate in it must neither split the line nor break printing: escape those, as repr does."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _one_line_problem(problem: Problem | str) -> Problem:
    if isinstance(problem, str):
        return Problem.parse(one_line(problem))
    return Problem(problem.file, problem.line, problem.path, one_line(problem.message))


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


class PasswordUnavailable(ResticError):
    """The policy's password source gave nothing usable (command failed, file missing, empty)."""


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
