"""SQLite databases: a consistent copy through the online backup API, never a raw file copy."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from pydantic import Field

from drkit.core.errors import SourceMissing
from drkit.core.policy import AbsolutePath, Model
from drkit.targets.registry import LivePath, StagedKind, register_target


class SqliteTarget(Model):
    sqlite: AbsolutePath = Field(description="Absolute path of a SQLite database (copied with the online backup API)")


@register_target(SqliteTarget, key="sqlite")
class SqliteKind(StagedKind[SqliteTarget]):
    def label(self, target: SqliteTarget) -> str:
        return f"sqlite {target.sqlite}"

    def check_source(self, target: SqliteTarget) -> None:
        if not target.sqlite.is_file():
            raise SourceMissing(f"sqlite database {target.sqlite} does not exist")

    def staged_name(self, target: SqliteTarget) -> str:
        return f"sqlite/{target.sqlite.name}"

    def dump(self, target: SqliteTarget, out: Path) -> None:
        self.check_source(target)
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

    def live_paths(self, target: SqliteTarget) -> list[LivePath]:
        return [LivePath(f"sqlite database {target.sqlite}", target.sqlite)]

    def runbook(self, target: SqliteTarget, restored: str) -> str:
        return (f"a consistent copy of the database: stop the application, then `cp \"$RESTORE/{restored}\" "
                f"\"{target.sqlite}\"` and run `sqlite3 \"{target.sqlite}\" 'pragma integrity_check'`")

    def drill_checks(self, target: SqliteTarget, configured: list[Any]) -> list[Any]:
        """`PRAGMA integrity_check` on the restored copy, unless a configured sqlite check of the same
        database runs it already."""
        from drkit.checks.sqlite import SqliteCheck, SqliteCheckSpec  # drkit.checks imports the targets

        path = str(target.sqlite)
        if any(isinstance(check, SqliteCheck) and check.sqlite.path == path for check in configured):
            return []
        return [SqliteCheck(sqlite=SqliteCheckSpec(path=path))]
