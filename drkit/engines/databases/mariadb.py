"""MariaDB / MySQL: dumping a live server (mariadb-dump or mysqldump, one consistent
--single-transaction dump per database) and a throw-away MariaDB for drills
(mariadb-install-db, mariadbd --skip-networking, the mariadb client).

Credentials come from an option file only (`--defaults-file`, always the first argument), never
argv. A drill's clients use `--no-defaults`: no option file may point them at the live server.
"""

from __future__ import annotations

import os
import pwd
import re
import signal
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drkit.core import errors
from drkit.engines import process
from drkit.engines.databases.dumps import DatabaseDump, DumpIndex, dump_file, run_dump_tool
from drkit.engines.databases.load import Loaded, RunningServer
from drkit.engines.databases.server import QueryFailed, RunAs, ServerHome, Throwaway, find_program

DUMP_SUFFIX = ".sql"
DUMP_FLAGS = ["--single-transaction", "--routines", "--events", "--triggers", "--hex-blob"]
SYSTEM_SCHEMAS = frozenset({"information_schema", "performance_schema", "sys"})
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def series_of(version: str) -> str:
    """'10.11.18-MariaDB-0+deb12u1' -> 'MariaDB 10.11'; '8.0.36' -> 'MySQL 8.0'."""
    match = re.match(r"(\d+)\.(\d+)", version)
    flavor = "MariaDB" if "mariadb" in version.lower() else "MySQL"
    return f"{flavor} {match.group(1)}.{match.group(2)}" if match else f"{flavor} {version}"


# --- the live server -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LiveServer:
    """A live MariaDB/MySQL reached with the options (user, password, socket or host) of
    `defaults_file`."""

    defaults_file: Path
    label: str

    def run(self, argv: list[str], *, timeout: float | None, what: str) -> process.Completed:
        """Run a client program (`--defaults-file` inserted first); SourceMissing "LABEL: WHAT: why"
        when it does not run to its end or exits non-zero."""
        return run_dump_tool([argv[0], f"--defaults-file={self.defaults_file}", *argv[1:]], timeout=timeout,
                             label=self.label, what=what, hint="apt-get install mariadb-client")

    def query(self, sql: str, *, timeout: float = 60) -> list[str]:
        client = find_program(["mariadb", "mysql"]) or "mariadb"
        done = self.run([client, "--batch", "--skip-column-names", "--execute", sql], timeout=timeout, what="query")
        return done.stdout.decode("utf-8", "replace").splitlines()


@dataclass(frozen=True)
class DumpPlan:
    server: LiveServer
    databases: list[str] | None  # None: every database but the system schemas
    dump_args: list[str]
    timeout: float


def dump(plan: DumpPlan, out: Path, kind: str, name: str) -> DumpIndex:
    """One dump per database into `out`; SourceMissing naming the database whose dump failed."""
    server = plan.server
    version = server.query("select version()")[0].strip()
    databases = plan.databases if plan.databases is not None else [
        db for db in server.query("show databases") if db not in SYSTEM_SCHEMAS]
    tool = find_program(["mariadb-dump", "mysqldump"]) or "mariadb-dump"
    dumps = []
    for database in databases:
        start = time.monotonic()
        server.run(dump_argv(plan, tool, database, out), timeout=plan.timeout, what=f"database {database}")
        file = dump_file(database, DUMP_SUFFIX)
        dumps.append(DatabaseDump(database=database, file=file, bytes=(out / file).stat().st_size,
                                  duration_s=round(time.monotonic() - start, 3)))
    return DumpIndex(kind=kind, target=name, server_version=version, server_series=series_of(version),
                     databases=dumps)


def dump_argv(plan: DumpPlan, tool: str, database: str, out: Path) -> list[str]:
    """One database, consistent (one transaction), with its routines, events and triggers; the
    dump creates its database when loaded. LiveServer.run puts --defaults-file first."""
    return [tool, *DUMP_FLAGS, *plan.dump_args, f"--result-file={out / dump_file(database, DUMP_SUFFIX)}",
            "--databases", database]


# --- the throw-away server -----------------------------------------------------------------------------

class ThrowawayMariaDB(Throwaway):
    """`mariadb-install-db` + `mariadbd --skip-networking` with its socket in a private home;
    root (drkit's own user when not root) logs in through unix_socket authentication, which
    mariadb-install-db sets up for the user running the drill. Binary logging and durability are
    off (the data is thrown away). Each database's dump is loaded with `mariadb < dump`."""

    kind = "mysql"
    default_user = "mysql"
    socket_name = "mysqld.sock"
    stop_signal = signal.SIGTERM  # mariadbd's normal shutdown
    death_signal = "KILL"

    def install_hint(self) -> str:
        return "apt-get install mariadb-server"

    @property
    def socket(self) -> Path:
        assert self.home is not None
        return self.home.socket_dir / self.socket_name

    def _start(self, home: ServerHome, run_as: RunAs) -> None:
        server = find_program(["mariadbd", "mysqld"])
        if server is None:
            raise errors.DrkitError(f"{self.label}: no MariaDB server (mariadbd) on this host to start the dumps",
                                    hint=self.install_hint())
        have = series_of(self._run([server, "--version"], timeout=30).stdout.decode(errors="replace").split(" Ver ")[-1])
        if have != self.index.server_series:
            raise errors.DrkitError(f"{self.label}: the dumps come from {self.index.server_series} "
                                    f"({self.index.server_version}); this host has {have}: the drill needs the same "
                                    "server series to start them")
        data, tmp = home.path / "data", home.path / "tmp"
        tmp.mkdir(mode=0o700)
        run_as.own(tmp)
        self._init([find_program(["mariadb-install-db", "mysql_install_db"]) or "mariadb-install-db", "--no-defaults",
                    f"--datadir={data}", "--auth-root-authentication-method=socket", "--skip-test-db"],
                   "mariadb-install-db")
        self._serve([server, "--no-defaults", f"--datadir={data}", f"--socket={self.socket}", "--skip-networking",
                     f"--pid-file={home.path / 'mariadbd.pid'}", f"--tmpdir={tmp}", "--skip-log-bin",
                     "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0"])
        self._wait_ready(self._client("--execute", "select 1"))

    def _client(self, *args: str) -> list[str]:
        """The mariadb client on the throw-away socket, as the drill's own user (unix_socket login)."""
        client = find_program(["mariadb", "mysql"]) or "mariadb"
        return [client, "--no-defaults", f"--socket={self.socket}", f"--user={pwd.getpwuid(os.geteuid()).pw_name}", *args]

    def load(self, database: str) -> None:
        entry = next(d for d in self.index.databases if d.database == database)
        done = self._run(self._client("--batch"), timeout=None, stdin=self.dumps / entry.file)
        if not done.ok:
            raise errors.VerificationError(f"{self.label}: database {database} could not be loaded from its dump: "
                                           f"{done.last_line()}")

    def query(self, database: str, sql: str, timeout: float) -> tuple[Any, ...] | None:
        done = self._run(self._client("--xml", f"--database={database}", "--execute", sql), timeout=timeout)
        if not done.ok:
            raise QueryFailed(done.last_line())
        return first_row(done.stdout)


def first_row(xml_output: bytes) -> tuple[Any, ...] | None:
    """The first row of the last result set of `mariadb --xml` (NULL as None)."""
    blocks = [b for b in xml_output.split(b"<?xml") if b.strip()]
    if not blocks:
        return None
    root = ET.fromstring(b"<?xml" + blocks[-1])
    row = root.find("row")
    if row is None:
        return None
    return tuple(None if field.get(XSI_NIL) == "true" else (field.text or "") for field in row.findall("field"))


# --- a running server to load into (drkit restore --to-database) -----------------------------------

class RunningMariaDB(RunningServer):
    """A live MariaDB/MySQL reached with the options (user, password, socket or host) of an option
    file, like the target's `defaults_file`. The dump (`--databases`) creates and selects its own
    database, so it lands in a database of the dumped name; `DROP TABLE IF EXISTS` before each
    table lets `--force` load over an existing one. MariaDB commits DDL as it goes: a load that
    fails half-way leaves the tables loaded so far."""

    kind = "mysql"
    dump_suffix = DUMP_SUFFIX

    def check(self) -> None:
        path = Path(self.connection)
        if not path.is_file() or not os.access(path, os.R_OK):
            raise errors.UsageError(f"--to-database {self.connection}: for a mysql target, name an option file "
                                    "([client] user, password, socket or host) readable by this user",
                                    hint="e.g. /root/restore.cnf, mode 0600")
        self.connection = str(path.resolve())  # the client may run elsewhere than drkit's cwd

    def target_database(self, dumped: str) -> str:
        return dumped

    def _client(self, *args: str) -> list[str]:
        return [find_program(["mariadb", "mysql"]) or "mariadb", f"--defaults-file={self.connection}", *args]

    def _query(self, sql: str, what: str) -> list[str]:
        done = self._run(self._client("--batch", "--skip-column-names", "--execute", sql), what=what,
                         hint="apt-get install mariadb-client")
        return done.stdout.decode("utf-8", "replace").splitlines()

    def objects(self, database: str) -> int:
        name = sql_string(database)
        return int(self._query(f"select (select count(*) from information_schema.tables where table_schema = {name})"
                               f" + (select count(*) from information_schema.routines where routine_schema = {name})",
                               f"database {database}")[0])

    def load(self, dump: Path, database: str, *, force: bool, series: str) -> None:
        self._run(self._client("--batch"), stdin=dump, what=f"database {database}: loading {dump.name}",
                  hint="apt-get install mariadb-client")

    def count(self, database: str) -> Loaded:
        tables = self._query(f"select table_name from information_schema.tables where table_schema = "
                             f"{sql_string(database)} and table_type = 'BASE TABLE'", f"database {database}")
        if not tables:
            return Loaded(0, 0)
        counts = " + ".join(f"(select count(*) from {sql_name(database)}.{sql_name(t)})" for t in tables)
        return Loaded(len(tables), int(self._query(f"select {counts}", f"database {database}: counting rows")[0]))

    def next_steps(self, database: str) -> list[str]:
        return [f"users and grants are not part of the dump of {database}: create the application's user, or take "
                "them from the dump of the `mysql` database when the policy backs it up"]


def sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_name(value: str) -> str:
    return "`" + value.replace("`", "``") + "`"
