"""`postgres_query: {sql, expect, expect_min}`: a query on a throw-away PostgreSQL started on the
restored dump. Until that drill support exists the check is an ERROR, never a silent PASS."""

from __future__ import annotations

from drkit.checks.registry import CheckContext, CheckError, register_check
from drkit.core.policy import Model

POSTGRES_NOT_IMPLEMENTED = "postgres_query checks need the PostgreSQL drill support (not yet implemented)"


class PostgresQuerySpec(Model):
    sql: str
    expect: str | int | float | None = None
    expect_min: float | None = None


class PostgresQueryCheck(Model):
    postgres_query: PostgresQuerySpec


@register_check(PostgresQueryCheck, key="postgres_query", name=lambda c: f"postgres_query {c.postgres_query.sql}")
def postgres_query(check: PostgresQueryCheck, ctx: CheckContext) -> str:
    raise CheckError(POSTGRES_NOT_IMPLEMENTED)
