"""SQLite databases: a consistent copy through the online backup API, never a raw file copy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from drkit.core.errors import SourceMissing
from drkit.core.policy import SqliteTarget


def staged_path(target: SqliteTarget, staging: Path) -> Path:
    return staging / "sqlite" / target.sqlite.name


def check(target: SqliteTarget) -> None:
    if not target.sqlite.is_file():
        raise SourceMissing(f"sqlite database {target.sqlite} does not exist")


def dump(target: SqliteTarget, staging: Path) -> Path:
    check(target)
    out = staged_path(target, staging)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    try:
        source = sqlite3.connect(f"file:{target.sqlite}?mode=ro", uri=True, timeout=30)
        dest = sqlite3.connect(out)
        with dest:
            source.backup(dest)
        dest.close()
        source.close()
    except sqlite3.Error as exc:
        raise SourceMissing(f"sqlite database {target.sqlite}: cannot read ({exc})") from None
    return out
