"""Database targets end to end with real servers (tests/databases.py), real restic and S3, and the
real CLI: dumps, the throw-away server a drill starts on them, its checks, and what is left after."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from factories import Env
from process_watch import ArgvWatch

# --- helpers -------------------------------------------------------------------------------------

def snapshot_count(env: Env, name: str) -> int:
    done = env.restic(name, "snapshots", "--json", check=False)
    return len(json.loads(done.stdout or "[]")) if done.returncode == 0 else 0


def drill(env: Env, name: str, check: int) -> dict:
    proc = env.drkit("restore-drill", name, "--json", check=check)
    return json.loads(proc.stdout)["record"]


def throwaway_leftovers(env: Env) -> list[str]:
    """Throw-away server processes, homes and sockets a drill of `env` may have left."""
    found = [str(p) for p in Path("/tmp").glob("drkit-db-*")] + [str(p) for p in Path("/tmp").glob("drkit-sock-*")]
    found += [str(p) for p in (env.root / "drills").rglob("*") if ".drkit-db" in p.parts or p.is_socket()]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and ("drkit-db-" in cmdline or str(env.root / "drills") in cmdline):
            found.append(f"pid {proc.name}: {cmdline}")
    return found


def wait_for_process(name: str, within: float = 30) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                argv0 = cmdline.read_bytes().split(b"\0", 1)[0]
            except OSError:
                continue
            if Path(argv0.decode(errors="replace")).name == name:
                return int(cmdline.parent.name)
        time.sleep(0.02)
    raise AssertionError(f"{name} never started")


def write_password(env: Env, password: str) -> Path:
    path = env.root / "db-password"
    path.write_text(password + "\n")
    path.chmod(0o600)
    return path


def pg_policy(env: Env, server, database: str, checks: list[dict], **target) -> None:
    spec = {"dsn": server.dsn(), "databases": [database], "password_file": str(write_password(env, server.password)),
            **target}
    env.write_policy("shop", targets=[{"postgres": spec}],
                     drill={"sandbox": str(env.root / "drills"), "checks": checks})
    env.drkit("repo", "init", "shop", check=0)


def counted(database: str, expect: int | None = None, **bounds) -> dict:
    return {"postgres_query": {"database": database, "sql": "select count(*) from orders",
                               **({"expect": expect} if expect is not None else {}), **bounds}}


# --- PostgreSQL ----------------------------------------------------------------------------------

def test_postgres_drill_counts_the_backed_up_rows_on_a_throwaway_server(env, postgres_server):
    db = postgres_server.create_database(rows=500)
    checksum = postgres_server.sql("select md5(string_agg(sku || ':' || name, ',' order by sku)) from products", db)
    pg_policy(env, postgres_server, db, [
        counted(db, 500),
        {"postgres_query": {"database": db, "expect": checksum,
                            "sql": "select md5(string_agg(sku || ':' || name, ',' order by sku)) from products"}},
        {"postgres_query": {"database": db, "sql": "select count(*) from pg_roles where rolname = 'drkit_backup'",
                            "expect": 1}}])
    with ArgvWatch([postgres_server.password]) as watch:
        backup = json.loads(env.drkit("backup", "shop", "--json", check=0).stdout)["runs"][0]["record"]
        postgres_server.sql("insert into orders (item, qty) select 'late', 1 from generate_series(1, 25)", db)
        record = drill(env, "shop", check=0)  # the live server has 525 rows now: the drill must see 500
        postgres_server.stop()
        try:
            stopped = drill(env, "shop", check=0)  # the live server is down: the drill does not need it
        finally:
            postgres_server.start()
    assert watch.leaks == [] and {"pg_dump", "pg_dumpall", "postgres", "pg_restore", "psql"} <= watch.seen

    [dumped] = backup["measured"]["databases"]
    assert dumped["database"] == db and dumped["kind"] == "postgres" and dumped["bytes"] > 0
    assert dumped["server_version"].startswith(str(postgres_server.bindir.parent.name))
    for drilled in (record, stopped):
        checks = drilled["measured"]["checks"]
        assert [c["passed"] for c in checks] == [True, True, True], checks
        assert checks[0]["detail"] == "query = '500'"
        phases = drilled["phases"]
        assert {"db_start:postgres", f"db_load:{db}", f"queries:{db}"} <= set(phases)
        assert abs(sum(phases.values()) - drilled["measured"]["rta_s"]) < 0.01
        assert drilled["measured"]["database_s"] > 0
        assert drilled["measured"]["database_bytes"] == dumped["bytes"]  # what the projection scales the load by
        [server] = drilled["measured"]["databases"]
        assert server["databases"] == [db] and server["run_as"] == ("postgres" if os.geteuid() == 0 else server["run_as"])
    assert throwaway_leftovers(env) == []

    text = env.drkit("restore-drill", "shop", check=0).stdout
    assert f"queries:{db}" in text and "db_start:postgres" in text, text
    assert "  ok  " in text and f"postgres_query {db}: select count(*) from orders: query = '500'" in text, text


def test_a_check_expecting_more_rows_fails_the_drill_and_stops_the_server(env, postgres_server):
    db = postgres_server.create_database(rows=20)
    postgres_server.sql("create table if not exists settings (k text primary key, v text); "
                        "insert into settings values ('a', 'b') on conflict do nothing")
    pg_policy(env, postgres_server, db, [counted(db, expect_min=21),
                                         {"postgres_query": {"database": "postgres", "expect": 1,
                                                             "sql": "select count(*) from settings"}}],
              databases="all")  # every database of the cluster, `postgres` included
    backup = json.loads(env.drkit("backup", "shop", "--json", check=0).stdout)["runs"][0]["record"]
    assert {"postgres", db} <= {d["database"] for d in backup["measured"]["databases"]}
    proc = env.drkit("restore-drill", "shop", check=4)
    assert "  ok  " in proc.stdout and "postgres_query postgres: select count(*) from settings: query = '1'" \
        in proc.stdout, proc.stdout
    assert f"FAIL shop: check failed: postgres_query {db}: select count(*) from orders: query returned '20', " \
           "expected at least 21" in proc.stdout, proc.stdout
    assert throwaway_leftovers(env) == []


def test_a_database_down_during_backup_fails_it_without_a_snapshot(env, postgres_server):
    db = postgres_server.create_database(rows=5)
    pg_policy(env, postgres_server, db, [])
    env.drkit("backup", "shop", check=0)
    before = snapshot_count(env, "shop")
    postgres_server.stop()
    try:
        proc = env.drkit("backup", "shop", check=1)
    finally:
        postgres_server.start()
    assert proc.stderr.startswith(f"drkit: error: postgres target {postgres_server.dsn()}: database {db}: psql exited 2")
    assert postgres_server.password not in proc.stderr + proc.stdout
    assert snapshot_count(env, "shop") == before == 1
    status = json.loads(env.drkit("status", "--json", check=None).stdout)["policies"][0]
    assert status["last_run_result"] == "error" and status["last_snapshot_id"] is not None


def test_pg_dump_killed_mid_run_fails_the_backup_without_a_snapshot(env, postgres_server):
    db = postgres_server.create_database(rows=5)
    pg_policy(env, postgres_server, db, [])
    env.drkit("backup", "shop", check=0)
    before = snapshot_count(env, "shop")
    locker = postgres_server.session(db)  # pg_dump waits for this lock: it is still running when killed
    locker.stdin.write("begin; lock table orders in access exclusive mode;\n")
    locker.stdin.flush()
    try:
        backup = subprocess.Popen(env.drkit_argv("backup", "shop"), env=env.env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        os.kill(wait_for_process("pg_dump"), signal.SIGKILL)
        out, err = backup.communicate(timeout=120)
    finally:
        locker.stdin.write("rollback;\n\\q\n")
        locker.stdin.close()
        locker.wait(30)
    assert backup.returncode == 1, err
    assert f"database {db}: pg_dump was killed by signal 9" in err and "Traceback" not in err
    assert snapshot_count(env, "shop") == before


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_during_a_drill_stops_the_throwaway_server(env, postgres_server, sig):
    db = postgres_server.create_database(rows=5)
    pg_policy(env, postgres_server, db, [{"postgres_query": {"database": db, "sql": "select pg_sleep(60)"}}])
    env.drkit("backup", "shop", check=0)
    proc = subprocess.Popen(env.drkit_argv("restore-drill", "shop", "--json"), env=env.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for_process("psql")  # the check's query is running on the throw-away server
    proc.send_signal(sig)  # SIGINT: what Ctrl-C sends drkit (the server runs in a session of its own)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err
    if sig == signal.SIGTERM:
        assert proc.returncode == 1, err
        assert json.loads(out)["record"]["result"] == "interrupted"
    else:
        assert proc.returncode == 130, err
    assert throwaway_leftovers(env) == []


# --- MariaDB -------------------------------------------------------------------------------------

def test_mariadb_drill_counts_the_backed_up_rows_and_fails_on_more(env, mariadb_server):
    db = mariadb_server.create_database(rows=300)
    env.write_policy("shop", targets=[{"mysql": {"defaults_file": str(mariadb_server.defaults_file),
                                                 "databases": [db]}}],
                     drill={"sandbox": str(env.root / "drills"), "checks": [
                         {"mysql_query": {"database": db, "sql": "select count(*) from orders", "expect": 300}},
                         {"mysql_query": {"database": db, "sql": "select count(*) from information_schema.routines "
                                                                 f"where routine_schema = '{db}'", "expect": 1}},
                         {"mysql_query": {"database": db, "sql": "select count(*) from information_schema.triggers "
                                                                 f"where trigger_schema = '{db}'", "expect": 1}}]})
    env.drkit("repo", "init", "shop", check=0)
    with ArgvWatch([mariadb_server.password]) as watch:
        env.drkit("backup", "shop", check=0)
        mariadb_server.sql("insert into orders (item, qty) values ('late', 1)", db)
        record = drill(env, "shop", check=0)
        watch.until_seen({"mariadb-dump"}, lambda: env.drkit("backup", "shop", check=0))
    assert watch.leaks == [] and {"mariadb-dump", "mariadbd", "mariadb"} <= watch.seen
    assert [c["passed"] for c in record["measured"]["checks"]] == [True, True, True], record["measured"]["checks"]
    assert {"db_start:mysql", f"db_load:{db}", f"queries:{db}"} <= set(record["phases"])
    assert throwaway_leftovers(env) == []

    env.write_policy("shop", targets=[{"mysql": {"defaults_file": str(mariadb_server.defaults_file),
                                                 "databases": "all"}}],  # the `mysql` system database too
                     drill={"sandbox": str(env.root / "drills"), "checks": [
                         {"mysql_query": {"database": "mysql", "expect": 1, "sql": "select count(*) from "
                                          "mysql.global_priv where user = 'drkit_backup'"}},
                         {"mysql_query": {"database": db, "sql": "select count(*) from orders", "expect_min": 302}}]})
    env.drkit("backup", "shop", check=0)  # 301 rows now
    failed = drill(env, "shop", check=4)
    assert [c["passed"] for c in failed["measured"]["checks"]] == [True, False], failed["measured"]["checks"]
    assert failed["result"] == "fail" and "returned '301', expected at least 302" in failed["errors"][0]
    assert throwaway_leftovers(env) == []


def test_mariadb_down_during_backup_fails_it_without_a_snapshot(env, mariadb_server):
    db = mariadb_server.create_database(rows=5)
    env.write_policy("shop", targets=[{"mysql": {"defaults_file": str(mariadb_server.defaults_file),
                                                 "databases": [db]}}])
    env.drkit("repo", "init", "shop", check=0)
    mariadb_server.stop()
    try:
        proc = env.drkit("backup", "shop", check=1)
    finally:
        mariadb_server.start()
    assert proc.stderr.startswith("drkit: error: mysql target mysql: query: mariadb exited 1: ")
    assert mariadb_server.password not in proc.stderr
    assert snapshot_count(env, "shop") == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to an unprivileged user needs root")
def test_a_drill_as_an_unprivileged_user_keeps_its_server_in_the_sandbox(postgres_server):
    """drkit not running as root: the throw-away server runs as drkit's own user, its home in the
    sandbox, and its socket in a short private directory when the sandbox's path is too long."""
    db = postgres_server.create_database(rows=42)
    root = Path(tempfile.mkdtemp(prefix="drkit-test-nonroot-"))
    try:
        for name, text in (("repo-password", "repo secret"), ("db-password", postgres_server.password)):
            (root / name).write_text(text + "\n")
            (root / name).chmod(0o600)
        env = Env(root, "", "", {})
        env.write_policy("shop", targets=[{"postgres": {"dsn": postgres_server.dsn(), "databases": [db],
                                                        "password_file": str(root / "db-password")}}],
                         repository={"url": str(root / "repo"), "password_file": str(root / "repo-password")},
                         drill={"sandbox": str(root / "drills" / ("long" * 12)), "checks": [counted(db, 42)]})
        env.drkit("repo", "init", "shop", check=0)
        env.drkit("backup", "shop", check=0)
        subprocess.run(["chown", "-R", "nobody:nogroup", str(root)], check=True)
        root.chmod(0o755)
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *env.drkit_argv(
            "restore-drill", "shop", "--json")]
        with ArgvWatch([]) as watch:
            proc = subprocess.run(argv, env=env.env(HOME=str(root)), capture_output=True, text=True, timeout=300,
                                  cwd=root)
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)["record"]
        assert record["measured"]["databases"][0]["run_as"] == "nobody"
        assert record["measured"]["checks"][0]["detail"] == "query = '42'"
        assert "initdb" in watch.seen
        assert not any((root / "drills").rglob(".drkit-db")) and not list(Path("/tmp").glob("drkit-sock-*"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(shutil.which("mariadbd", path=os.environ.get("PATH", "") + ":/usr/sbin") is None,
                    reason="MariaDB is not installed")
def test_a_mysql_dump_from_oracle_mysql_is_an_error_naming_both_series(tmp_path):
    """A dump made by MySQL 8.0 is not loaded into the local MariaDB (a partial success would be a
    false PASS): ERROR before anything is initialised, naming both series."""
    from drkit.core.errors import DrkitError, ExitCode
    from drkit.engines.databases.dumps import DatabaseDump, DumpIndex
    from drkit.engines.databases.mariadb import ThrowawayMariaDB

    index = DumpIndex(kind="mysql", target="mysql", server_version="8.0.36", server_series="MySQL 8.0",
                      databases=[DatabaseDump(database="shop", file="shop.sql", bytes=10, duration_s=0.1)])
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir(mode=0o700)
    server = ThrowawayMariaDB("mysql", sandbox, index)
    home = None
    try:
        with pytest.raises(DrkitError) as caught:
            server.start(sandbox, None)
        home = server.home.path if server.home else None
    finally:
        server.stop()
    assert caught.value.exit_code == ExitCode.ERROR
    assert caught.value.message.startswith("mysql target mysql: the dumps come from MySQL 8.0 (8.0.36); this host "
                                           "has MariaDB "), caught.value.message
    assert home is not None and not home.exists() and not (sandbox / ".drkit-db").exists()
