"""The database engine's pure parts and local plumbing: client output parsing, server homes and
users, the dump index, how query checks find their database, a sqlite target's implicit check."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from drkit.checks import CheckError, CheckFailed, run_check
from drkit.core.policy import MysqlQueryCheck, Policy, PostgresQueryCheck, SqliteCheck
from drkit.engines.databases import mariadb, postgres
from drkit.engines.databases.dumps import DatabaseDump, DumpIndex, dump_file
from drkit.engines.databases.server import (
    HOME_IN_SANDBOX,
    SOCKET_PATH_MAX,
    DatabaseRef,
    RunAs,
    ServerHome,
    Throwaway,
    unreachable,
)
from drkit.jobs.drill.clock import Stopwatch
from drkit.jobs.drill.databases import DatabaseStage
from drkit.targets import target_kind


def test_psql_output_keeps_nulls_newlines_and_empty_strings_apart():
    out = f"1{postgres.FIELD_SEP}x\ny{postgres.FIELD_SEP}{postgres.NULL}\0{2}{postgres.FIELD_SEP}\0".encode()
    assert postgres.first_row(out) == ("1", "x\ny", None)
    assert postgres.first_row(b"\0") == ("",)
    assert postgres.first_row(b"") is None


MARIADB_XML = b"""<?xml version="1.0"?>

<resultset statement="select 1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <row>
\t<field name="a">1</field>
\t<field name="b">x
y</field>
\t<field name="c" xsi:nil="true" />
\t<field name="d"></field>
  </row>
</resultset>
"""


def test_mariadb_xml_output_keeps_nulls_newlines_and_empty_strings_apart():
    assert mariadb.first_row(MARIADB_XML) == ("1", "x\ny", None, "")
    empty = b'<?xml version="1.0"?>\n<resultset statement="x" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' \
            b'</resultset>\n'
    assert mariadb.first_row(empty) is None
    assert mariadb.first_row(empty + MARIADB_XML) == ("1", "x\ny", None, "")  # the last statement's result
    assert mariadb.first_row(b"") is None


@pytest.mark.parametrize("version, series", [
    ("10.11.18-MariaDB-0+deb12u1", "MariaDB 10.11"), ("8.0.36", "MySQL 8.0"), ("11.4.2-MariaDB", "MariaDB 11.4"),
])
def test_server_series(version, series):
    assert mariadb.series_of(version) == series


def test_the_dump_index_round_trips_and_names_any_database(tmp_path):
    index = DumpIndex(kind="postgres", target="main", server_version="15.18", server_series="15",
                      databases=[DatabaseDump(database="a/b c", file=dump_file("a/b c", ".dump"), bytes=3,
                                              duration_s=0.5)], server_files=["roles.sql"])
    index.write(tmp_path)
    assert '"schema": "drkit.database-dump/1"' in (tmp_path / "drkit-dump.json").read_text()
    assert DumpIndex.read(tmp_path) == index and index.databases[0].file == "a%2Fb%20c.dump"
    with pytest.raises(ValueError, match="drkit-dump.json is missing"):
        DumpIndex.read(tmp_path / "nope")


def me() -> RunAs:
    return RunAs.for_drill(None, "postgres") if os.geteuid() != 0 else RunAs("root", 0, 0, switch=False)


def test_a_server_home_lives_in_the_sandbox_when_the_server_runs_as_drkits_user(tmp_path):
    sandbox = tmp_path / "sb"
    sandbox.mkdir(mode=0o700)
    home = ServerHome.create(sandbox, "main", me(), ".s.PGSQL.5432")
    assert home.path == sandbox / HOME_IN_SANDBOX / "main" and stat.S_IMODE(home.path.stat().st_mode) == 0o700
    home.remove()
    assert list(sandbox.iterdir()) == []


def test_a_socket_moves_to_a_short_private_directory_when_its_path_is_too_long(tmp_path):
    sandbox = tmp_path / ("x" * (SOCKET_PATH_MAX - len(str(tmp_path))))
    sandbox.mkdir()
    home = ServerHome.create(sandbox, "main", me(), "mysqld.sock")
    try:
        assert home.socket_dir != home.path and str(home.socket_dir).startswith("/tmp/drkit-sock-")
        assert len(str(home.socket_dir / "mysqld.sock")) <= SOCKET_PATH_MAX
        assert stat.S_IMODE(home.socket_dir.stat().st_mode) == 0o700
    finally:
        home.remove()
    assert not home.socket_dir.exists() and not home.path.exists()


def test_another_user_runs_the_server_through_setpriv_and_dies_with_drkit():
    assert RunAs("me", 1000, 1000, switch=False).argv(["postgres", "-D", "x"], death_signal="QUIT") == [
        "setpriv", "--pdeathsig=QUIT", "--", "postgres", "-D", "x"]
    assert RunAs("postgres", 101, 104, switch=True).argv(["initdb"], death_signal="KILL") == [
        "setpriv", "--pdeathsig=KILL", "--reuid=101", "--regid=104", "--init-groups", "--", "initdb"]


def test_a_directory_the_server_user_cannot_pass_is_named(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    inner = private / "inner"
    inner.mkdir(mode=0o755)
    stranger = RunAs("nobody", 65534, 65534, switch=True)
    assert unreachable(inner, stranger) in (private, *private.parents)
    private.chmod(0o711)
    assert unreachable(inner, stranger) in (None, *private.parents)


# --- which database a query check means -------------------------------------------------------------

class FakeServer(Throwaway):
    kind = "postgres"
    default_user = "postgres"

    def __init__(self, name: str, databases: list[str], kind: str = "postgres"):
        super().__init__(name, Path("/nowhere"), DumpIndex(
            kind=kind, target=name, server_version="15", server_series="15",
            databases=[DatabaseDump(database=d, file=d, bytes=0, duration_s=0) for d in databases]))
        self.kind = kind

    def _start(self, home, run_as):  # pragma: no cover - never started
        raise AssertionError

    def load(self, database):  # pragma: no cover
        raise AssertionError

    def query(self, database, sql, timeout):  # pragma: no cover
        raise AssertionError


def policy(*targets: dict, checks: list[dict] | None = None) -> Policy:
    return Policy.model_validate({
        "version": 1, "name": "shop", "objectives": {"rpo": "1d", "rto": "4h"}, "targets": list(targets),
        "repository": {"url": "/r", "password_file": "/p"}, "drill": {"checks": checks or []}})


def stage(*servers: FakeServer) -> DatabaseStage:
    result = DatabaseStage(policy({"path": "/srv"}), Stopwatch())
    result.servers = list(servers)
    return result


def test_a_query_check_finds_its_server_and_database():
    one = stage(FakeServer("postgres", ["shop"]))
    assert one.resolve(DatabaseRef("postgres", None, None))[1] == "shop"
    assert one.resolve(DatabaseRef("postgres", "postgres", "shop"))[1] == "shop"
    with pytest.raises(CheckFailed, match=r"database 'crm' is not among the restored dumps \(restored: postgres/shop\)"):
        one.resolve(DatabaseRef("postgres", None, "crm"))
    with pytest.raises(CheckError, match="no postgres target named 'other'"):
        one.resolve(DatabaseRef("postgres", "other", "shop"))
    with pytest.raises(CheckError, match="no mysql target in the policy"):
        one.resolve(DatabaseRef("mysql", None, "shop"))

    two = stage(FakeServer("a", ["shop", "crm"]), FakeServer("b", ["shop"]), FakeServer("mysql", ["shop"], "mysql"))
    with pytest.raises(CheckError, match=r"name the database to query \(restored: a/shop, a/crm, b/shop\)"):
        two.resolve(DatabaseRef("postgres", None, None))
    with pytest.raises(CheckError, match=r"several postgres targets hold a database 'shop'; name the target"):
        two.resolve(DatabaseRef("postgres", None, "shop"))
    server, database = two.resolve(DatabaseRef("postgres", "b", "shop"))
    assert (server.name, database) == ("b", "shop")
    assert two.resolve(DatabaseRef("mysql", None, "shop"))[0].kind == "mysql"


def test_query_checks_are_timed_per_database_and_other_checks_as_checks():
    two = stage(FakeServer("postgres", ["shop", "crm"]))
    query = PostgresQueryCheck.model_validate({"postgres_query": {"database": "crm", "sql": "select 1"}})
    unresolved = MysqlQueryCheck.model_validate({"mysql_query": {"database": "crm", "sql": "select 1"}})
    files = SqliteCheck.model_validate({"sqlite": {"path": "/x.db"}})
    assert [two.phase_of(c) for c in (query, unresolved, files)] == ["queries:crm", "checks", "checks"]


# --- sqlite targets -----------------------------------------------------------------------------------

def test_a_sqlite_target_gets_an_integrity_check_unless_one_is_configured():
    p = policy({"sqlite": "/var/lib/app/app.db"}, {"sqlite": "/var/lib/app/other.db"},
               checks=[{"sqlite": {"path": "/var/lib/app/other.db", "query": "select 1"}}])
    implicit = [c for t in p.targets for c in target_kind(t).drill_checks(t, list(p.drill.checks))]
    assert implicit == [SqliteCheck.model_validate({"sqlite": {"path": "/var/lib/app/app.db"}})]


def test_the_implicit_integrity_check_fails_a_damaged_copy(tmp_path):
    from drkit.checks import CheckContext

    p = policy({"sqlite": "/var/lib/app/app.db"})
    copy = tmp_path / "sb" / "state" / "staging" / "shop" / "sqlite" / "app.db"
    copy.parent.mkdir(parents=True)
    con = sqlite3.connect(copy)
    con.execute("create table t (x)")
    con.executemany("insert into t values (?)", [(str(i) * 500,) for i in range(200)])
    con.commit()
    con.close()
    ctx = CheckContext((tmp_path / "sb").resolve(), "/state/staging/shop", p, tmp_path)
    [check] = target_kind(p.targets[0]).drill_checks(p.targets[0], [])
    assert run_check(check, ctx).detail == "integrity_check ok"
    data = bytearray(copy.read_bytes())
    data[4096 + 100:4096 + 400] = os.urandom(300)  # inside the table's pages, past the header
    copy.write_bytes(bytes(data))
    result = run_check(check, ctx)
    assert not result.passed and not result.error, result
