"""PostgreSQL: dumping a live server (pg_dump -Fc per database, pg_dumpall for roles and
tablespaces) and a throw-away server for drills (initdb, postgres, pg_restore -j, psql).

Connections are libpq DSNs without a password (the policy refuses one: argv is readable by every
local user in /proc); the password reaches libpq through a private pgpass file (PGPASSFILE).
Programs come from the bin directory of the server's major version: pg_dump must not be older than
the server it dumps, and a drill restores into the major version that made the dump.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shlex
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from drkit.core import errors
from drkit.engines import process
from drkit.engines.databases.dumps import DatabaseDump, DumpIndex, dump_file, run_dump_tool
from drkit.engines.databases.load import Loaded, RunningServer
from drkit.engines.databases.server import QueryFailed, RunAs, ServerHome, Throwaway, free_port

DUMP_SUFFIX = ".dump"
ROLES_FILE = "roles.sql"
TABLESPACES_FILE = "tablespaces.sql"
NULL = "\x1enull\x1e"  # how psql prints NULL for drkit (a value no column holds by accident)
FIELD_SEP = "\x1f"
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
_KV_PASSWORD = re.compile(r"(?:^|\s+)password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']\S*)")
_KV_DBNAME = re.compile(r"(?:^|\s)dbname\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']\S*)")


# --- DSNs ----------------------------------------------------------------------------------------

def split_password(dsn: str) -> tuple[str, str | None]:
    """The DSN without its password, and the password (URI `user:pw@`, `?password=`, or `password=`)."""
    if "://" not in dsn:
        match = _KV_PASSWORD.search(dsn)
        if match is None:
            return dsn, None
        return (dsn[:match.start()] + dsn[match.end():]).strip(), _kv_value(match.group(1))
    parts = urlsplit(dsn)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.password is None and all(key != "password" for key, _ in query):
        return dsn, None  # as written: nothing to take out
    password = unquote(parts.password) if parts.password is not None else None
    netloc = parts.netloc
    if password is not None:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    password = next((v for k, v in query if k == "password"), password)
    rest = urlencode([(k, v) for k, v in query if k != "password"])
    # Not urlunsplit: it drops the `//` of an empty host (`postgresql:///db?host=/run/postgresql`, libpq's
    # unix-socket form), and libpq then reads `postgresql:/db?host` as a key=value option.
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{rest}" if rest else ""), password


def dsn_database(dsn: str) -> str | None:
    """The database a DSN names, if any."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        named = next((v for k, v in parse_qsl(parts.query) if k == "dbname"), None)
        return named or unquote(parts.path.lstrip("/")) or None
    found = _KV_DBNAME.findall(dsn)
    return _kv_value(found[-1]) if found else None  # libpq takes the last one


def dsn_for(dsn: str, database: str) -> str:
    """The DSN with its database replaced by `database`."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        rest = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "dbname"])
        # Not urlunsplit: it drops the `//` of an empty host (libpq's unix-socket form, see split_password).
        return f"{parts.scheme}://{parts.netloc}/{quote(database, safe='')}" + (f"?{rest}" if rest else "")
    escaped = database.replace("\\", "\\\\").replace("'", "\\'")
    return f"{dsn} dbname='{escaped}'"  # libpq: the last of a repeated keyword wins


def _kv_value(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith("'") else raw


@contextlib.contextmanager
def pgpass(password: str | None) -> Iterator[dict[str, str]]:
    """Child environment handing libpq the password in a private pgpass file, removed afterwards
    (a file, not PGPASSWORD: an environment is copied into every child the program starts)."""
    if password is None:
        yield {}
        return
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    fd, name = tempfile.mkstemp(prefix="drkit-pgpass-")
    try:
        with os.fdopen(fd, "w") as file:  # mkstemp: 0600
            file.write(f"*:*:*:*:{escaped}\n")
        yield {"PGPASSFILE": name}
    finally:
        os.unlink(name)


# --- binaries --------------------------------------------------------------------------------------

def installed_bindirs() -> dict[int, Path]:
    """Major version -> bin directory of every PostgreSQL installed the Debian way
    (/usr/lib/postgresql/N/bin), plus the one whose `postgres`/`pg_dump` is on PATH."""
    found: dict[int, Path] = {}
    for bindir in glob.glob(DEBIAN_BINDIRS):
        major = Path(bindir).parent.name
        if major.isdigit() and os.access(Path(bindir) / "pg_dump", os.X_OK):
            found[int(major)] = Path(bindir)
    for program in ("postgres", "pg_dump"):
        on_path = shutil.which(program)
        if on_path is None:
            continue
        real = Path(os.path.realpath(on_path))
        if real.parent not in found.values() and (major := _major_of_bindir(real.parent)) is not None:
            found.setdefault(major, real.parent)
    return found


def _major_of_bindir(bindir: Path) -> int | None:
    """The major version of the pg_dump in `bindir` (the Debian wrapper in /usr/bin is not one)."""
    if not (bindir / "pg_dump").is_file() or "postgresql-common" in os.path.realpath(bindir / "pg_dump"):
        return None
    try:
        done = process.run([str(bindir / "pg_dump"), "--version"], timeout=30)
    except process.ProcessError:
        return None
    match = re.search(rb"(\d+)(?:\.\d+)?", done.stdout)
    return int(match.group(1)) if done.ok and match else None


def client_bindir(server_major: int) -> Path | None:
    """Where to take pg_dump for a server: its own major version, else the oldest newer one
    (pg_dump refuses servers newer than itself); None: use whatever is on PATH."""
    bindirs = installed_bindirs()
    usable = sorted(major for major in bindirs if major >= server_major)
    return bindirs[usable[0]] if usable else None


# --- the live server -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LiveServer:
    """A live PostgreSQL reached by `dsn` (no password in it) with `password` for libpq."""

    dsn: str
    password: str | None
    label: str  # "postgres target NAME", for messages

    def run(self, argv: list[str], *, timeout: float | None, what: str) -> process.Completed:
        """Run a client program; SourceMissing "LABEL: WHAT: why" when it does not run to its end
        or exits non-zero."""
        with pgpass(self.password) as extra:
            return run_dump_tool(argv, env=process.child_env(extra), timeout=timeout, label=self.label, what=what,
                                 hint="apt-get install postgresql-client")

    def query(self, database: str, sql: str, *, timeout: float = 60) -> list[list[str]]:
        done = self.run(["psql", *PSQL_FLAGS, "--command", sql, "--dbname", dsn_for(self.dsn, database)],
                        timeout=timeout, what=f"database {database}")
        return parse_rows(done.stdout)

    def version(self, database: str) -> tuple[int, str]:
        """(server_version_num, server_version) of the server."""
        rows = self.query(database, "select current_setting('server_version_num'), current_setting('server_version')")
        return int(rows[0][0]), rows[0][1]

    def databases(self, database: str) -> list[str]:
        """Every database that accepts connections, templates excluded."""
        rows = self.query(database, "select datname from pg_database where datallowconn and not datistemplate "
                                    "order by datname")
        return [row[0] for row in rows]


PSQL_FLAGS = ["--no-psqlrc", "--quiet", "--no-align", "--tuples-only", "--record-separator-zero",
              f"--field-separator={FIELD_SEP}", f"--pset=null={NULL}", "--set=ON_ERROR_STOP=1"]


def parse_rows(output: bytes) -> list[list[str]]:
    """psql's output with PSQL_FLAGS: records end in NUL, fields are split by US."""
    text = output.decode("utf-8", "replace")
    return [record.split(FIELD_SEP) for record in text.split("\0")[:-1]]


def first_row(output: bytes) -> tuple[Any, ...] | None:
    rows = parse_rows(output)
    return tuple(None if value == NULL else value for value in rows[0]) if rows else None


@dataclass(frozen=True)
class DumpPlan:
    """What one backup dumps from a live server, and how."""

    server: LiveServer
    databases: list[str] | None  # None: every database
    connect_db: str              # the database to connect to for listing and versions
    dump_args: list[str]
    role_passwords: bool
    timeout: float


def dump(plan: DumpPlan, out: Path, kind: str, name: str) -> DumpIndex:
    """Dump every database of the plan into `out`, roles and tablespaces beside them; raise
    SourceMissing naming the database whose dump failed (nothing of a failed run is backed up)."""
    server = plan.server
    version_num, version = server.version(plan.connect_db)
    major = version_num // 10000
    bindir = client_bindir(major)
    tool = (lambda program: str(bindir / program)) if bindir else (lambda program: program)
    databases = plan.databases if plan.databases is not None else server.databases(plan.connect_db)
    dumps = [_dump_one(plan, tool("pg_dump"), database, out) for database in databases]
    for argv in server_argvs(plan, tool("pg_dumpall"), out):
        server.run(argv, timeout=plan.timeout, what=f"pg_dumpall {argv[1]}")
    return DumpIndex(kind=kind, target=name, server_version=version, server_series=str(major), databases=dumps,
                     server_files=[ROLES_FILE, TABLESPACES_FILE])


def pg_dump_argv(plan: DumpPlan, pg_dump: str, database: str, out: Path) -> list[str]:
    return [pg_dump, "--format=custom", "--file", str(out / dump_file(database, DUMP_SUFFIX)), *plan.dump_args,
            "--dbname", dsn_for(plan.server.dsn, database)]


def server_argvs(plan: DumpPlan, pg_dumpall: str, out: Path) -> list[list[str]]:
    """pg_dumpall of the roles and of the tablespaces, in separate files: a drill creates the roles
    but never a tablespace (its location is a path of the live server)."""
    roles = ["--roles-only"] + ([] if plan.role_passwords else ["--no-role-passwords"])
    connect = ["--dbname", dsn_for(plan.server.dsn, plan.connect_db)]
    return [[pg_dumpall, *roles, "--file", str(out / ROLES_FILE), *connect],
            [pg_dumpall, "--tablespaces-only", "--file", str(out / TABLESPACES_FILE), *connect]]


def _dump_one(plan: DumpPlan, pg_dump: str, database: str, out: Path) -> DatabaseDump:
    start = time.monotonic()
    plan.server.run(pg_dump_argv(plan, pg_dump, database, out), timeout=plan.timeout, what=f"database {database}")
    file = dump_file(database, DUMP_SUFFIX)
    return DatabaseDump(database=database, file=file, bytes=(out / file).stat().st_size,
                        duration_s=round(time.monotonic() - start, 3))


# --- the throw-away server -----------------------------------------------------------------------------

class ThrowawayPostgres(Throwaway):
    """`initdb` + `postgres` of the dump's major version in a private home: no TCP
    (listen_addresses=''), a unix socket in the home, a free port number for the socket's name,
    trust authentication (only drkit's user and root can reach the socket), durability off (the
    data is thrown away). Roles are created first, then each database is restored with
    `pg_restore --create -j N`."""

    kind = "postgres"
    default_user = "postgres"
    socket_name = ".s.PGSQL.65535.lock"
    stop_signal = signal.SIGINT   # "fast" shutdown, what `pg_ctl stop -m fast` sends
    death_signal = "QUIT"         # "immediate" shutdown when drkit dies
    superuser = "postgres"

    def __init__(self, name: str, dumps: Path, index: DumpIndex):
        super().__init__(name, dumps, index)
        self.port = 0
        self.bindir: Path | None = None

    def install_hint(self) -> str:
        return f"apt-get install postgresql-{self.major}"

    @property
    def major(self) -> int:
        return int(self.index.server_series) if self.index.server_series.isdigit() else 0

    def _start(self, home: ServerHome, run_as: RunAs) -> None:
        self.bindir = installed_bindirs().get(self.major)
        if self.bindir is None or not (self.bindir / "initdb").exists():
            raise errors.DrkitError(f"{self.label}: the dumps come from PostgreSQL {self.index.server_version}; "
                                    f"the drill needs PostgreSQL {self.major} to start them",
                                    hint=self.install_hint())
        data = home.path / "data"
        self._init([self._bin("initdb"), "--pgdata", str(data), "--username", self.superuser, "--auth=trust",
                    "--encoding=UTF8", "--no-locale", "--no-sync"], "initdb")
        self.port = free_port()
        self._serve([self._bin("postgres"), "-D", str(data), "-c", "listen_addresses=",
                     "-c", f"unix_socket_directories={home.socket_dir}", "-c", f"port={self.port}",
                     "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
                     "-c", "autovacuum=off", "-c", "logging_collector=off"])
        self._wait_ready([self._bin("pg_isready"), *self._connection("postgres")])
        self._load_roles()

    def _bin(self, program: str) -> str:
        assert self.bindir is not None
        return str(self.bindir / program)

    def _connection(self, database: str) -> list[str]:
        assert self.home is not None
        return ["--host", str(self.home.socket_dir), "--port", str(self.port), "--username", self.superuser,
                "--dbname", database]

    def _load_roles(self) -> None:
        """Roles first, so restored objects keep their owners. The bootstrap superuser exists
        already ("role postgres already exists" is expected); tablespaces are never created: their
        locations are live paths."""
        roles = self.dumps / ROLES_FILE
        if ROLES_FILE not in self.index.server_files or not roles.is_file():
            return
        self._run([self._bin("psql"), "--no-psqlrc", "--quiet", "--file", str(roles), *self._connection("postgres")],
                  timeout=None)

    def load(self, database: str) -> None:
        """`pg_restore --create` (the database with its own settings); the `postgres` database
        exists in every new cluster already, so its dump is restored into it."""
        entry = next(d for d in self.index.databases if d.database == database)
        jobs = str(max(1, os.cpu_count() or 1))
        create = ["--create"] if database != self.superuser else []
        done = self._run([self._bin("pg_restore"), *create, "--no-tablespaces", "--jobs", jobs,
                          *self._connection("postgres"), str(self.dumps / entry.file)], timeout=None)
        if not done.ok:
            raise errors.VerificationError(f"{self.label}: database {database} could not be restored from its dump: "
                                           f"pg_restore {done.status()}: {_first_error(done.stderr) or done.last_line()}")

    def query(self, database: str, sql: str, timeout: float) -> tuple[Any, ...] | None:
        done = self._run([self._bin("psql"), *PSQL_FLAGS, "--command", sql, *self._connection(database)],
                         timeout=timeout)
        if not done.ok:
            raise QueryFailed(_first_error(done.stderr) or done.last_line())
        return first_row(done.stdout)


def _first_error(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", "replace").splitlines():
        if "error:" in line.lower() or line.startswith("ERROR:"):
            return line.strip()[:300]
    return ""


# --- a running server to load into (drkit restore --to-database) -----------------------------------

# Exact row counts of every table outside the system schemas, in one statement (pg_class's
# estimates are empty right after a load: nothing has analyzed the tables yet).
COUNT_SQL = ("select count(*), coalesce(sum((xpath('/row/n/text()', query_to_xml(format('select count(*) as n "
             "from %I.%I', schemaname, tablename), false, true, '')))[1]::text::bigint), 0) from pg_tables "
             "where schemaname not in ('pg_catalog', 'information_schema')")
OBJECTS_SQL = ("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where "
               "n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' "
               "and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')")


class RunningPostgres(RunningServer):
    """A live PostgreSQL named by a libpq DSN (no password in it). The dump is loaded with
    `pg_restore --single-transaction --exit-on-error --no-owner`: all or nothing, owned by the DSN's
    role (the live roles need not match the backed-up ones); `--force` adds `--clean --if-exists`."""

    kind = "postgres"
    dump_suffix = DUMP_SUFFIX

    def check(self) -> None:
        if split_password(self.connection)[1] is not None:
            raise errors.UsageError("--to-database: the DSN carries a password, which every local user could read "
                                    "in the process list", hint="put it in ~/.pgpass or a file named by PGPASSFILE")
        # libpq parses the DSN without connecting when it cannot be valid: pg_isready then exits 3 ("no
        # attempt") with libpq's own words; a server that is down (1, 2) is the load's to report.
        try:
            done = process.run(["pg_isready", "--dbname", self.connection, "--timeout", "3"], timeout=30)
        except process.ProcessError:
            return  # no client tools here: psql, which the load needs, says so with its hint
        if done.returncode == 3:
            reason = process.last_line(done.stderr).removeprefix("pg_isready: error: ")
            raise errors.UsageError(f"--to-database: '{self.connection}' is not a PostgreSQL connection string "
                                    f"({reason})", hint="e.g. postgresql:///shop?host=/run/postgresql or "
                                                        "'host=/run/postgresql dbname=shop'")

    def target_database(self, dumped: str) -> str:
        return dsn_database(self.connection) or dumped

    def _psql(self, database: str, sql: str, what: str) -> list[list[str]]:
        done = self._run(["psql", *PSQL_FLAGS, "--command", sql, "--dbname", dsn_for(self.connection, database)],
                         what=what, hint="apt-get install postgresql-client")
        return parse_rows(done.stdout)

    def objects(self, database: str) -> int:
        try:
            return int(self._psql(database, OBJECTS_SQL, f"database {database}")[0][0])
        except errors.DrkitError as exc:
            if "does not exist" in exc.message:
                raise errors.DrkitError(f"{self.label}: database {database} does not exist on that server",
                                        hint=f"create it empty first: createdb -T template0 {database} "
                                             "(with the DSN's host and user)") from None
            raise

    def load(self, dump: Path, database: str, *, force: bool, series: str) -> None:
        bindir = client_bindir(int(series) if series.isdigit() else 0)  # pg_restore at least as new as the dump
        pg_restore = str(bindir / "pg_restore") if bindir else "pg_restore"
        clean = ["--clean", "--if-exists"] if force else []
        self._run([pg_restore, "--single-transaction", "--exit-on-error", "--no-owner", *clean,
                   "--dbname", dsn_for(self.connection, database), str(dump)],
                  what=f"database {database}: loading {dump.name}", hint="apt-get install postgresql-client")

    def count(self, database: str) -> Loaded:
        tables, rows = self._psql(database, COUNT_SQL, f"database {database}: counting rows")[0]
        return Loaded(int(tables), int(rows))

    def next_steps(self, database: str) -> list[str]:
        dsn = self.connection if dsn_database(self.connection) == database else dsn_for(self.connection, database)
        return [f"update the planner's statistics (a load leaves none): `vacuumdb --analyze-only --dbname "
                f"{shlex.quote(dsn)}`",
                "the loaded objects belong to the DSN's role; the backed-up roles and their grants are in "
                f"`{ROLES_FILE}` beside the dump (restore it with --target and review it before `psql -f`)"]
