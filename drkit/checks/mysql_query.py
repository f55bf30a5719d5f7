"""`mysql_query: {database, sql, expect | expect_min | expect_max}`: a query on the drill's
throw-away MariaDB, started on a mysql target's restored dumps (docs/databases.md)."""

from __future__ import annotations

from drkit.checks.registry import CheckContext, register_check
from drkit.checks.server_query import ServerQuerySpec, name_of, ref_of, run_query
from drkit.core.policy import Model


class MysqlQuerySpec(ServerQuerySpec):
    """A query on a restored MariaDB/MySQL database."""


class MysqlQueryCheck(Model):
    mysql_query: MysqlQuerySpec


@register_check(MysqlQueryCheck, key="mysql_query", name=lambda c: name_of("mysql", c.mysql_query),
                database=lambda c: ref_of("mysql", c.mysql_query))
def mysql_query(check: MysqlQueryCheck, ctx: CheckContext) -> str:
    return run_query("mysql", check.mysql_query, ctx)
