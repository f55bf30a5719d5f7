"""`sqlite: {path, query, expect, expect_min, expect_max}`: integrity_check, then an optional query,
on the restored database (a sqlite *target*'s path means its staged copy)."""

from __future__ import annotations

import shlex
import sqlite3
from urllib.parse import quote

from pydantic import Field

from drkit.checks.expect import row_detail, row_problem
from drkit.checks.paths import restored_location, restored_location_by_hand
from drkit.checks.registry import CheckContext, CheckFailed, ManualContext, register_check
from drkit.core.policy import Model


class SqliteCheckSpec(Model):
    path: str = Field(description="database path inside the restored tree (relative) or the original absolute path")
    query: str | None = None
    expect: str | int | float | None = None
    expect_min: float | None = None
    expect_max: float | None = None


class SqliteCheck(Model):
    sqlite: SqliteCheckSpec


def sqlite_by_hand(check: SqliteCheck, ctx: ManualContext) -> str:
    """`sqlite3 -readonly DB 'pragma integrity_check'` (prints ok), then the query with what it must give."""
    spec = check.sqlite
    db = restored_location_by_hand(ctx, spec.path)
    line = f"sqlite3 -readonly {db} 'pragma integrity_check'"
    if spec.query:
        wanted = [f"= {spec.expect}" if spec.expect is not None else "",
                  f">= {spec.expect_min:g}" if spec.expect_min is not None else ""]
        line += f" && sqlite3 -readonly {db} {shlex.quote(spec.query)}"
        if any(wanted):
            line += "   # expect " + " and ".join(w for w in wanted if w)
    return line


@register_check(SqliteCheck, key="sqlite",
                name=lambda c: f"sqlite {c.sqlite.path}" + (f": {c.sqlite.query}" if c.sqlite.query else ""),
                by_hand=sqlite_by_hand)
def sqlite_check(check: SqliteCheck, ctx: CheckContext) -> str:
    spec = check.sqlite
    db = restored_location(ctx, spec.path)
    if not db.is_file():
        raise CheckFailed(f"database not in the restored tree (looked at {db.relative_to(ctx.sandbox)})")
    try:
        con = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise CheckFailed(f"cannot open ({exc})") from None
    try:
        rows = con.execute("pragma integrity_check").fetchall()
        if rows != [("ok",)]:
            raise CheckFailed(f"integrity_check: {'; '.join(str(r[0]) for r in rows[:3])}")
        if not spec.query:
            return "integrity_check ok"
        row = con.execute(spec.query).fetchone()
    except sqlite3.Error as exc:
        raise CheckFailed(str(exc)) from None
    finally:
        con.close()
    problem = row_problem(row, spec.expect, spec.expect_min, spec.expect_max)
    if problem:
        raise CheckFailed(problem)
    return f"integrity_check ok; {row_detail(row)}"
