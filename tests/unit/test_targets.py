"""Targets through their registry: staging real dumps, pre-flight checks, restore locations, dump argv."""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

import pytest

from drkit import targets
from drkit.core.errors import PolicyError, SourceMissing
from drkit.core.policy import (
    TARGETS,
    CommandTarget,
    MysqlTarget,
    PathTarget,
    Policy,
    PostgresTarget,
    SqliteTarget,
    load_policy_file,
)
from drkit.engines.databases import mariadb, postgres
from drkit.engines.databases.postgres import dsn_database, dsn_for, split_password
from drkit.targets import target_kind
from drkit.targets.postgres import dump_plan


def policy(*items: dict) -> Policy:
    return Policy.model_validate({
        "version": 1, "name": "shop", "objectives": {"rpo": "1d", "rto": "4h"}, "targets": list(items),
        "repository": {"url": "s3:http://127.0.0.1:1/b/shop", "password_file": "/etc/pw"}})


def make_db(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("create table t (x)")
    con.execute("insert into t values (42)")
    con.commit()
    con.close()
    return path


def test_every_built_in_kind_is_registered_in_the_documented_order():
    assert TARGETS.keys()[:5] == ["path", "postgres", "mysql", "sqlite", "command"]
    assert [TARGETS.key_of(m) for m in (PathTarget, PostgresTarget, MysqlTarget, SqliteTarget, CommandTarget)] == [
        "path", "postgres", "mysql", "sqlite", "command"]


def test_prepare_stages_dumps_and_keeps_paths_in_place(tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    db = make_db(tmp_path / "app.db")
    staging = tmp_path / "staging"
    staging.mkdir()
    p = policy({"path": str(live), "exclude": ["*.tmp"]}, {"sqlite": str(db)},
               {"command": {"run": [sys.executable, "-c", "print('dumped')"], "filename": "out.sql"}})
    targets.check_sources(p)
    assert targets.prepare(p, staging) == [live, staging]
    assert (staging / "command" / "out.sql").read_text() == "dumped\n"
    con = sqlite3.connect(staging / "sqlite" / "app.db")
    assert con.execute("select x from t").fetchall() == [(42,)]
    con.close()
    assert targets.excludes(p) == ["*.tmp"]
    assert [(lp.label, lp.path) for lp in targets.live_paths(p)] == [
        (f"backup source {live}", live), (f"sqlite database {db}", db)]


def test_paths_alone_add_no_staging_dir(tmp_path):
    p = policy({"path": str(tmp_path)})
    assert targets.prepare(p, tmp_path / "staging") == [tmp_path]


def test_restored_paths_are_where_the_snapshot_holds_each_target(tmp_path):
    staging = Path("/state/staging/shop")
    p = policy({"path": "/srv/shop"}, {"sqlite": "/var/lib/app/app.db"},
               {"postgres": {"dsn": "postgresql://backup@db:5432/orders?sslmode=require"}},
               {"mysql": {"defaults_file": "/etc/drkit/shop.cnf", "databases": ["shop"], "name": "shop-mysql"}},
               {"command": {"run": ["mysqldump", "shop"], "filename": "shop.sql"}})
    assert [str(target_kind(t).restored_path(t, staging)) for t in p.targets] == [
        "/srv/shop", "/state/staging/shop/sqlite/app.db", "/state/staging/shop/postgres",
        "/state/staging/shop/shop-mysql", "/state/staging/shop/command/shop.sql"]
    assert [target_kind(t).label(t) for t in p.targets] == [
        "path /srv/shop", "sqlite /var/lib/app/app.db", "postgres postgresql://backup@db:5432/orders?sslmode=require",
        "mysql shop-mysql", "command shop.sql"]


def test_missing_sources_fail_before_restic(tmp_path):
    with pytest.raises(SourceMissing, match=f"source path {tmp_path / 'gone'} does not exist"):
        targets.check_sources(policy({"path": str(tmp_path / "gone")}))
    with pytest.raises(SourceMissing, match="sqlite database .*nope.db does not exist"):
        targets.check_sources(policy({"sqlite": str(tmp_path / "nope.db")}))


@pytest.mark.parametrize("run, message", [
    (["no-such-dump-tool-xyz"], "command target out.sql: program 'no-such-dump-tool-xyz' not found"),
    ([sys.executable, "-c", "import sys; print('disk full', file=sys.stderr); sys.exit(2)"],
     f"command target out.sql: {sys.executable} exited 2: disk full"),
])
def test_a_failing_command_target_names_itself_and_the_reason(tmp_path, run, message):
    p = policy({"command": {"run": run, "filename": "out.sql"}})
    with pytest.raises(SourceMissing) as exc:
        targets.prepare(p, tmp_path)
    assert str(exc.value) == message


def test_a_command_target_is_stopped_at_its_timeout(tmp_path):
    p = policy({"command": {"run": ["sleep", "30"], "filename": "out.sql", "timeout": "1s"}})
    with pytest.raises(SourceMissing, match="command target out.sql: sleep timed out after 1s"):
        targets.prepare(p, tmp_path)


@pytest.mark.parametrize("dsn, clean, password", [
    ("postgresql://backup@db/shop", "postgresql://backup@db/shop", None),
    ("postgresql://backup:s%40cret@db:5432/shop?sslmode=require", "postgresql://backup@db:5432/shop?sslmode=require",
     "s@cret"),
    ("postgres://db/shop?password=pw&sslmode=require", "postgres://db/shop?sslmode=require", "pw"),
    ("host=db dbname=shop password=s3cret user=backup", "host=db dbname=shop user=backup", "s3cret"),
    ("host=db password='it\\'s a \\\\secret' dbname=shop", "host=db dbname=shop", "it's a \\secret"),
    ("host=db dbname=shop", "host=db dbname=shop", None),
    ("postgresql:///shop?host=/run/postgresql&user=backup", "postgresql:///shop?host=/run/postgresql&user=backup",
     None),  # libpq's unix-socket form: the empty host stays
    ("postgresql:///shop?host=/run/pg&password=pw", "postgresql:///shop?host=%2Frun%2Fpg", "pw"),
])
def test_a_password_in_the_dsn_is_found(dsn, clean, password):
    assert split_password(dsn) == (clean, password)


def test_a_dsn_with_a_password_is_a_policy_error_at_its_line(tmp_path):
    file = tmp_path / "shop.yaml"
    file.write_text("version: 1\nname: shop\nobjectives: {rpo: 1d, rto: 4h}\ntargets:\n"
                    "  - postgres:\n      dsn: postgresql://backup:hunter2@db/shop\n"
                    "repository: {url: /r, password_file: /p}\n")
    with pytest.raises(PolicyError) as exc:
        load_policy_file(file)
    [problem] = exc.value.problems
    assert str(problem).startswith(f"{file}:6: targets[0].postgres.dsn: the DSN carries a password")
    assert "hunter2" not in str(problem)


@pytest.mark.parametrize("dsn, database, expected", [
    ("postgresql://backup@db:5432/shop?sslmode=require", "crm", "postgresql://backup@db:5432/crm?sslmode=require"),
    ("postgresql://backup@/?host=/run/postgresql&dbname=x", "a b/c", "postgresql://backup@/a%20b%2Fc?host=%2Frun%2Fpostgresql"),
    ("host=/run/postgresql user=backup dbname=shop", "it's", "host=/run/postgresql user=backup dbname=shop dbname='it\\'s'"),
])
def test_a_dsn_is_pointed_at_each_database(dsn, database, expected):
    assert dsn_for(dsn, database) == expected
    assert dsn_database(expected) == database


def test_pg_dump_and_pg_dumpall_argv_carry_no_password(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_PG_PW", "hunter2")
    target = PostgresTarget.model_validate({"postgres": {
        "dsn": "host=/run/postgresql user=backup", "databases": ["shop"], "dump_args": ["--no-owner"],
        "password_env": "SHOP_PG_PW"}})
    plan = dump_plan(target, "postgres target x")
    assert plan.server.password == "hunter2" and plan.connect_db == "shop"
    assert postgres.pg_dump_argv(plan, "pg_dump", "shop", tmp_path) == [
        "pg_dump", "--format=custom", "--file", str(tmp_path / "shop.dump"), "--no-owner",
        "--dbname", "host=/run/postgresql user=backup dbname='shop'"]
    assert postgres.server_argvs(plan, "pg_dumpall", tmp_path) == [
        ["pg_dumpall", "--roles-only", "--no-role-passwords", "--file", str(tmp_path / "roles.sql"),
         "--dbname", "host=/run/postgresql user=backup dbname='shop'"],
        ["pg_dumpall", "--tablespaces-only", "--file", str(tmp_path / "tablespaces.sql"),
         "--dbname", "host=/run/postgresql user=backup dbname='shop'"]]


def test_the_password_reaches_libpq_in_a_private_file_removed_afterwards():
    with postgres.pgpass("pa:ss\\word") as env:
        path = Path(env["PGPASSFILE"])
        assert path.read_text() == "*:*:*:*:pa\\:ss\\\\word\n" and path.stat().st_mode & 0o777 == 0o600
    assert not path.exists()


def test_mariadb_dump_argv_is_consistent_and_complete(tmp_path):
    plan = mariadb.DumpPlan(mariadb.LiveServer(Path("/etc/drkit/shop.cnf"), "mysql target shop"), ["shop"], [], 60)
    assert mariadb.dump_argv(plan, "mariadb-dump", "shop", tmp_path) == [
        "mariadb-dump", "--single-transaction", "--routines", "--events", "--triggers", "--hex-blob",
        f"--result-file={tmp_path / 'shop.sql'}", "--databases", "shop"]


@pytest.mark.parametrize("targets_, message", [
    ([{"postgres": {"dsn": "host=db"}}], "name the databases to dump"),
    ([{"postgres": {"dsn": "host=db", "databases": []}}], "name at least one database"),
    ([{"mysql": {"defaults_file": "/my.cnf", "databases": "shop"}}], "'shop': write a list (`[shop]`) or `all`"),
    ([{"postgres": {"dsn": "host=db dbname=a", "password_file": "/p", "password_env": "X"}}], "not both"),
    ([{"postgres": {"dsn": "host=db dbname=a"}}, {"postgres": {"dsn": "host=db2 dbname=b"}}],
     "stores its copy under the same staging name ('postgres') as targets[0]"),
    ([{"sqlite": "/a/app.db"}, {"sqlite": "/b/app.db"}], "same staging name ('sqlite/app.db')"),
])
def test_database_target_mistakes_are_policy_errors(targets_, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        policy(*targets_)


def test_a_failed_pg_dump_is_one_line_naming_the_database(tmp_path):
    """Real psql/pg_dump against a port nobody listens on."""
    p = policy({"postgres": {"dsn": "postgresql://backup@127.0.0.1:1/shop?connect_timeout=5"}})
    with pytest.raises(SourceMissing) as exc:
        targets.prepare(p, tmp_path)
    message = str(exc.value)
    assert message.startswith("postgres target postgresql://backup@127.0.0.1:1/shop?connect_timeout=5: database shop: "
                              "psql exited 2: ")
    assert "\n" not in message
