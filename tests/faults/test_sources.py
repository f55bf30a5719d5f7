"""What a backup reads (docs/reliability.md): a source path that vanished, a dump command that
fails, a PostgreSQL server that is down when its dump is due."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from aftermath import assert_intact, assert_nothing_left, assert_restorable, one_line_error


def assert_failed_backup_changed_nothing(env, golden, proc, tmp_path) -> str:
    """The backup failed before restic ran: one error line, no snapshot, status still on the golden one."""
    line = one_line_error(proc.stderr)
    assert proc.stdout == "FAILED shop: backup did not complete\n"
    status = json.loads(env.drkit("status", "--json", check=0).stdout)["policies"][0]
    assert status["last_run_result"] == "error" and status["last_snapshot_id"] == golden.snapshot_id, status
    assert_intact(env, "shop", snapshots=1)
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "restored")
    assert_nothing_left(env)
    return line


def test_a_missing_source_fails_the_backup_naming_it(backed_up, golden, tmp_path):
    env = backed_up
    missing = tmp_path / "unmounted"
    env.write_policy("shop", [golden.source, missing])
    proc = env.drkit("backup", "shop", check=1)
    line = assert_failed_backup_changed_nothing(env, golden, proc, tmp_path)
    assert line == (f"drkit: error: source path {missing} does not exist "
                    "(fix the path in the policy or restore the mount)")


def test_a_dump_command_failing_because_its_database_is_down_fails_the_backup(backed_up, golden, tmp_path):
    env = backed_up
    down = "echo 'mysqldump: Got error: 2002: Can not connect to MySQL server' >&2; exit 2"
    env.write_policy("shop", targets=[{"path": str(golden.source)},
                                      {"command": {"run": ["sh", "-c", down], "filename": "shop.sql"}}])
    proc = env.drkit("backup", "shop", check=1)
    line = assert_failed_backup_changed_nothing(env, golden, proc, tmp_path)
    assert line == ("drkit: error: command target shop.sql: sh exited 2: "
                    "mysqldump: Got error: 2002: Can not connect to MySQL server")


def postgres_program(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, else in Debian's versioned directory."""
    return shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)


def as_postgres(argv: list[str]) -> list[str]:
    """The server refuses to run as root: root runs it as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture
def postgres_socket() -> Iterator[Path]:
    """A private PostgreSQL cluster listening on a unix socket only, with a database `shop`; yields
    the socket directory. Stopped (if still running) and removed afterwards."""
    initdb, pg_ctl = postgres_program("initdb"), postgres_program("pg_ctl")
    if initdb is None or pg_ctl is None or shutil.which("pg_dump") is None:
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql)")
    base = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))  # a socket path must stay under 108 bytes
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data = base / "data"
    try:
        subprocess.run(as_postgres([initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"]),
                       check=True, capture_output=True)
        subprocess.run(as_postgres([pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-o",
                                    f"-c listen_addresses='' -k {base} -c fsync=off", "start"]),
                       check=True, capture_output=True)
        psql = ["psql", "-h", str(base), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
        subprocess.run([*psql, "-c", "create database shop"], check=True, capture_output=True)
        subprocess.run([*psql, "-d", "shop", "-c", "create table orders (id int); insert into orders values (1), (2)"],
                       check=True, capture_output=True)
        yield base
    finally:
        subprocess.run(as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.postgres
def test_postgres_down_during_the_dump_fails_the_backup_and_keeps_the_last_dump(backed_up, golden, tmp_path,
                                                                               postgres_socket):
    env = backed_up
    dsn = f"postgresql:///shop?host={postgres_socket}&user=postgres"
    env.write_policy("shop", targets=[{"path": str(golden.source)}, {"postgres": {"dsn": dsn}}])
    env.drkit("backup", "shop", check=0)
    subprocess.run(as_postgres([postgres_program("pg_ctl"), "-D", str(postgres_socket / "data"), "-m", "fast",
                                "stop"]), check=True, capture_output=True)
    proc = env.drkit("backup", "shop", check=1)
    line = one_line_error(proc.stderr)
    assert line == (f"drkit: error: postgres target {dsn}: database shop: psql exited 2: "
                    "Is the server running locally and accepting connections on that socket?")
    [_golden, dumped] = assert_intact(env, "shop", snapshots=2)
    restored = tmp_path / "restored"
    env.restic("shop", "restore", dumped["id"], "--target", str(restored))
    [dump] = restored.glob("**/staging/shop/postgres/shop.dump")
    listing = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True, check=True)
    assert "TABLE public orders" in listing.stdout  # the last good dump is there to restore
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "golden")
    assert_nothing_left(env)
