"""`postgres_query` and `mysql_query: {database, sql, expect | expect_min | expect_max}`: a query
on the drill's throw-away server of a database target (PostgreSQL; MariaDB/MySQL), judged like the
sqlite check's query (drkit/checks/expect.py), never on the live server (docs/databases.md). The two
kinds differ only in the server they ask, so one module registers both."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from drkit.checks.expect import row_detail, row_problem
from drkit.checks.registry import CheckContext, CheckError, CheckFailed, register_check
from drkit.core.policy import NAME_RE, Duration, Model
from drkit.engines.databases.server import DatabaseRef, QueryFailed


class ServerQuerySpec(Model):
    database: str | None = Field(None, description="database to query; may be left out when the target's "
                                                    "dumps hold only one")
    sql: str = Field(description="the query; its first row's first value is compared")
    expect: str | int | float | None = Field(None, description="the value must equal this (numbers numerically)")
    expect_min: float | None = Field(None, description="the value must be a number at least this")
    expect_max: float | None = Field(None, description="the value must be a number at most this")
    server: str | None = Field(None, pattern=NAME_RE, description="the target's `name`, when the policy has "
                                                                   "several of this kind")
    timeout: Duration = Field(timedelta(minutes=10), description="the query is stopped after this long (the "
                                                                 "check fails)")


def ref_of(kind: str, spec: ServerQuerySpec) -> DatabaseRef:
    return DatabaseRef(kind, spec.server, spec.database)


def name_of(kind: str, spec: ServerQuerySpec) -> str:
    where = f"{spec.server}/" if spec.server else ""
    return f"{kind}_query {where}{spec.database or ''}: {spec.sql}".replace(" : ", ": ")


def run_query(kind: str, spec: ServerQuerySpec, ctx: CheckContext) -> str:
    """Run the query on the throw-away server and compare its first value; the detail of a pass
    shows the value (a row count, a checksum)."""
    if ctx.databases is None:
        raise CheckError(f"no {kind} target in the policy: a {kind}_query check queries the restored dumps "
                         f"of one")
    server, database = ctx.databases.resolve(ref_of(kind, spec))
    try:
        row = server.query(database, spec.sql, spec.timeout.total_seconds())
    except QueryFailed as exc:
        raise CheckFailed(f"query failed: {exc}") from None
    problem = row_problem(row, spec.expect, spec.expect_min, spec.expect_max)
    if problem:
        raise CheckFailed(problem)
    return row_detail(row)


class PostgresQuerySpec(ServerQuerySpec):
    """A query on a restored PostgreSQL database."""


class PostgresQueryCheck(Model):
    postgres_query: PostgresQuerySpec


class MysqlQuerySpec(ServerQuerySpec):
    """A query on a restored MariaDB/MySQL database."""


class MysqlQueryCheck(Model):
    mysql_query: MysqlQuerySpec


def _register(kind: str, model: type[Model]) -> None:
    """`<kind>_query` entries of `drill.checks` query the throw-away server of a `<kind>` target."""
    key = f"{kind}_query"

    def spec(check: Model) -> ServerQuerySpec:
        return getattr(check, key)

    register_check(model, key=key, name=lambda c: name_of(kind, spec(c)), database=lambda c: ref_of(kind, spec(c)))(
        lambda check, ctx: run_query(kind, spec(check), ctx))


for _kind, _model in (("postgres", PostgresQueryCheck), ("mysql", MysqlQueryCheck)):  # the docs' order
    _register(_kind, _model)
