"""PostgreSQL: `pg_dump -Fc` of each database (one consistent snapshot per database) and
`pg_dumpall` of roles and tablespaces into `<staging>/<name>/`; drills restore them into a
throw-away server of the same major version (docs/databases.md).

The password never appears in argv (every local user can read /proc/*/cmdline): a DSN carrying one
is refused when the policy is read; libpq finds it in ~/.pgpass, PGPASSFILE, or the target's
`password_file` / `password_env`, which drkit hands over in a private pgpass file.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from drkit.core.errors import SourceMissing
from drkit.core.policy import Duration, Model
from drkit.engines.databases import postgres as engine
from drkit.engines.databases.dumps import DumpIndex
from drkit.engines.databases.load import RunningServer
from drkit.engines.databases.postgres import RunningPostgres, ThrowawayPostgres, dsn_database, split_password
from drkit.engines.databases.server import Throwaway
from drkit.targets.database import DatabaseKind, Databases, listed_dumps, name_field, timeout_field
from drkit.targets.registry import register_target


class PostgresSource(Model):
    dsn: str = Field(description="libpq connection string without a password (e.g. `host=/run/postgresql "
                                 "user=drkit_backup` or `postgresql://drkit_backup@db/shop`)")
    databases: Databases | None = Field(None, description="databases to dump, or `all` (every database accepting "
                                                          "connections); default: the database the DSN names")
    name: str = name_field("postgres")
    dump_args: list[str] = Field([], description="extra pg_dump arguments")
    password_file: Path | None = Field(None, description="file holding the password (0600); else ~/.pgpass or "
                                                         "PGPASSFILE")
    password_env: str | None = Field(None, description="name of an environment variable holding the password")
    role_passwords: bool = Field(False, description="also dump role password hashes (needs a superuser); "
                                                    "default: roles without passwords")
    timeout: Duration = timeout_field()

    @field_validator("dsn")
    @classmethod
    def _no_password(cls, dsn: str) -> str:
        if split_password(dsn)[1] is not None:
            raise ValueError("the DSN carries a password, which every local user could read in the process list; "
                             "remove it and use password_file, password_env or ~/.pgpass")
        return dsn

    @field_validator("databases")
    @classmethod
    def _some(cls, databases: Databases | None) -> Databases | None:
        if isinstance(databases, list) and not databases:
            raise ValueError("name at least one database, or `all`")
        return databases

    @model_validator(mode="after")
    def _complete(self) -> "PostgresSource":
        if self.password_file and self.password_env:
            raise ValueError("give password_file or password_env, not both")
        if self.databases is None and dsn_database(self.dsn) is None:
            raise ValueError("name the databases to dump (`databases: [shop]` or `databases: all`), or a dbname "
                             "in the DSN")
        return self


class PostgresTarget(Model):
    postgres: PostgresSource


def password(spec: PostgresSource, label: str) -> str | None:
    """The target's password from its file or variable; None lets libpq use ~/.pgpass / PGPASSFILE."""
    if spec.password_file is not None:
        try:
            return spec.password_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise SourceMissing(f"{label}: password_file {spec.password_file}: {exc.strerror}") from None
    if spec.password_env is not None:
        if spec.password_env not in os.environ:
            raise SourceMissing(f"{label}: password_env {spec.password_env} is not set")
        return os.environ[spec.password_env]
    return None


def dump_plan(target: PostgresTarget, label: str) -> engine.DumpPlan:
    spec = target.postgres
    named = dsn_database(spec.dsn)
    databases = None if spec.databases == "all" else (spec.databases or [named])  # type: ignore[list-item]
    connect = named or (databases[0] if databases else "postgres")
    return engine.DumpPlan(engine.LiveServer(spec.dsn, password(spec, label), label), databases, connect,
                           list(spec.dump_args), spec.role_passwords, spec.timeout.total_seconds())


@register_target(PostgresTarget, key="postgres")
class PostgresKind(DatabaseKind[PostgresTarget]):
    def label(self, target: PostgresTarget) -> str:
        return f"postgres {target.postgres.dsn}"

    def who(self, target: PostgresTarget) -> str:
        return f"postgres target {target.postgres.dsn}"

    def name(self, target: PostgresTarget) -> str:
        return target.postgres.name

    def dump_into(self, target: PostgresTarget, out: Path) -> DumpIndex:
        return engine.dump(dump_plan(target, self.who(target)), out, "postgres", target.postgres.name)

    def new_throwaway(self, target: PostgresTarget, restored: Path, index: DumpIndex) -> Throwaway:
        return ThrowawayPostgres(target.postgres.name, restored, index)

    def running_server(self, target: PostgresTarget, connection: str) -> RunningServer:
        return RunningPostgres(connection)

    def runbook(self, target: PostgresTarget, restored: str) -> str:
        return (f"one `pg_dump -Fc` archive per database (listed in `drkit-dump.json`): roles first, "
                f"`psql -f \"$RESTORE/{restored}/roles.sql\" postgres`, then per database "
                f"`pg_restore --create --dbname postgres \"$RESTORE/{restored}/<database>.dump\"`"
                + listed_dumps(target.postgres.databases, restored, engine.DUMP_SUFFIX))
