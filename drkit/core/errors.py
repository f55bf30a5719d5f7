"""Typed errors. Each carries the exit code the CLI returns and a one-line, actionable message.

Exit codes (README and `drkit --help` document the same table):
0 done, every target met · 1 could not complete · 2 usage or policy error ·
3 objective breached · 4 verification failed · 5 another run holds the lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Iterable


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
        self.problems = [p if isinstance(p, Problem) else Problem.parse(p) for p in problems]
        super().__init__("\n".join(map(str, self.problems)))


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
