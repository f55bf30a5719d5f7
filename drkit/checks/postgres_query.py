"""`postgres_query: {database, sql, expect | expect_min | expect_max}`: a query on the drill's
throw-away PostgreSQL, started on a postgres target's restored dumps (docs/databases.md)."""

from __future__ import annotations

from drkit.checks.registry import CheckContext, register_check
from drkit.checks.server_query import ServerQuerySpec, name_of, ref_of, run_query
from drkit.core.policy import Model


class PostgresQuerySpec(ServerQuerySpec):
    """A query on a restored PostgreSQL database."""


class PostgresQueryCheck(Model):
    postgres_query: PostgresQuerySpec


@register_check(PostgresQueryCheck, key="postgres_query", name=lambda c: name_of("postgres", c.postgres_query),
                database=lambda c: ref_of("postgres", c.postgres_query))
def postgres_query(check: PostgresQueryCheck, ctx: CheckContext) -> str:
    return run_query("postgres", check.postgres_query, ctx)
