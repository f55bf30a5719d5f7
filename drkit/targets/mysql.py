"""MariaDB / MySQL: `mariadb-dump` (or `mysqldump`) `--single-transaction --routines --events
--triggers` of each database into `<staging>/<name>/`; drills load them into a throw-away MariaDB
of the same series (docs/databases.md).

Credentials come from an option file (`defaults_file`: user, password, socket or host), never argv.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from drkit.core.errors import SourceMissing
from drkit.core.policy import AbsolutePath, Duration, Model
from drkit.engines.databases import mariadb as engine
from drkit.engines.databases.dumps import DumpIndex
from drkit.engines.databases.load import RunningServer
from drkit.engines.databases.mariadb import RunningMariaDB, ThrowawayMariaDB
from drkit.engines.databases.server import Throwaway
from drkit.targets.database import DatabaseKind, Databases, listed_dumps, name_field, timeout_field
from drkit.targets.registry import register_target


class MysqlSource(Model):
    defaults_file: AbsolutePath = Field(description="option file with the [client] user, password and socket or "
                                                    "host (0600); the only way credentials reach the dump tool")
    databases: Databases = Field(description="databases to dump, or `all` (every database but information_schema, "
                                             "performance_schema and sys)")
    name: str = name_field("mysql")
    dump_args: list[str] = Field([], description="extra mariadb-dump / mysqldump arguments")
    timeout: Duration = timeout_field()


class MysqlTarget(Model):
    mysql: MysqlSource


@register_target(MysqlTarget, key="mysql")
class MysqlKind(DatabaseKind[MysqlTarget]):
    def label(self, target: MysqlTarget) -> str:
        return f"mysql {target.mysql.name}"

    def who(self, target: MysqlTarget) -> str:
        return f"mysql target {target.mysql.name}"

    def name(self, target: MysqlTarget) -> str:
        return target.mysql.name

    def check_source(self, target: MysqlTarget) -> None:
        if not os.access(target.mysql.defaults_file, os.R_OK):
            raise SourceMissing(f"{self.who(target)}: defaults_file {target.mysql.defaults_file} is missing or not "
                                "readable by this user")

    def dump_into(self, target: MysqlTarget, out: Path) -> DumpIndex:
        spec = target.mysql
        plan = engine.DumpPlan(engine.LiveServer(spec.defaults_file, self.who(target)),
                               None if spec.databases == "all" else list(spec.databases), list(spec.dump_args),
                               spec.timeout.total_seconds())
        return engine.dump(plan, out, "mysql", spec.name)

    def new_throwaway(self, target: MysqlTarget, restored: Path, index: DumpIndex) -> Throwaway:
        return ThrowawayMariaDB(target.mysql.name, restored, index)

    def running_server(self, target: MysqlTarget, connection: str) -> RunningServer:
        return RunningMariaDB(connection)

    def runbook(self, target: MysqlTarget, restored: str) -> str:
        return (f"one SQL dump per database (listed in `drkit-dump.json`), each creating its database: "
                f"`mariadb < \"$RESTORE/{restored}/<database>.sql\"`"
                + listed_dumps(target.mysql.databases, restored, engine.DUMP_SUFFIX))
