"""Targets through their registry: staging real dumps, pre-flight checks, restore locations, pg_dump argv."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from drkit import targets
from drkit.core.errors import SourceMissing
from drkit.core.policy import TARGETS, CommandTarget, PathTarget, Policy, PostgresTarget, SqliteTarget
from drkit.targets import target_kind
from drkit.targets.postgres import pg_dump_call, split_password


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
    assert TARGETS.keys()[:4] == ["path", "postgres", "sqlite", "command"]
    assert [TARGETS.key_of(m) for m in (PathTarget, PostgresTarget, SqliteTarget, CommandTarget)] == [
        "path", "postgres", "sqlite", "command"]


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
               {"postgres": {"dsn": "postgresql://backup:pw@db:5432/orders?sslmode=require"}},
               {"command": {"run": ["mysqldump", "shop"], "filename": "shop.sql"}})
    assert [str(target_kind(t).restored_path(t, staging)) for t in p.targets] == [
        "/srv/shop", "/state/staging/shop/sqlite/app.db", "/state/staging/shop/postgres/orders.dump",
        "/state/staging/shop/command/shop.sql"]
    assert [target_kind(t).label(t) for t in p.targets] == [
        "path /srv/shop", "sqlite /var/lib/app/app.db", "postgres postgresql://backup@db:5432/orders?sslmode=require",
        "command shop.sql"]


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
def test_a_password_in_the_dsn_is_split_off(dsn, clean, password):
    assert split_password(dsn) == (clean, password)


def test_pg_dump_never_gets_the_password_in_argv(tmp_path):
    target = PostgresTarget.model_validate({"postgres": {"dsn": "postgresql://backup:hunter2@db/shop",
                                                         "dump_args": ["--no-owner"]}})
    argv, env = pg_dump_call(target, tmp_path / "shop.dump")
    assert argv == ["pg_dump", "-Fc", "--file", str(tmp_path / "shop.dump"), "--no-owner", "--dbname",
                    "postgresql://backup@db/shop"]
    assert env == {"PGPASSWORD": "hunter2"}


def test_a_failed_pg_dump_is_one_line_without_the_password(tmp_path):
    """Real pg_dump against a port nobody listens on."""
    p = policy({"postgres": {"dsn": "postgresql://backup:hunter2@127.0.0.1:1/shop?connect_timeout=5"}})
    with pytest.raises(SourceMissing) as exc:
        targets.prepare(p, tmp_path)
    message = str(exc.value)
    assert message.startswith("postgres target postgresql://backup@127.0.0.1:1/shop?connect_timeout=5: ")
    assert "hunter2" not in message and "\n" not in message
