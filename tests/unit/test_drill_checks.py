"""Drill checks on a real directory tree: registry, path confinement, sqlite, command, query checks."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from drkit.checks import (
    CheckContext,
    check_name,
    register_check,
    run_check,
    run_checks,
    value_problem,
)
from drkit.core.policy import (
    CHECKS,
    Check,
    CommandCheck,
    FileExistsCheck,
    Model,
    MysqlQueryCheck,
    Policy,
    PostgresQueryCheck,
    SqliteCheck,
)

CHECK = TypeAdapter(Check)


def policy(targets: list[dict]) -> Policy:
    return Policy.model_validate({
        "version": 1, "name": "shop", "objectives": {"rpo": "1d", "rto": "4h"}, "targets": targets,
        "repository": {"url": "s3:http://127.0.0.1:1/b/shop", "password_file": "/etc/pw"}})


@pytest.fixture
def ctx(tmp_path) -> CheckContext:
    sandbox = (tmp_path / "sandbox").resolve()
    (sandbox / "srv" / "shop").mkdir(parents=True)
    (sandbox / "srv" / "shop" / "logo.png").write_bytes(b"png")
    return CheckContext(sandbox, "/state/staging/shop", policy([{"path": "/srv/shop"}, {"sqlite": "/var/lib/app/app.db"}]),
                        tmp_path)


def make_db(path: Path, rows: int = 3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute("create table orders (id integer primary key, status text)")
    con.executemany("insert into orders (status) values (?)", [("paid",)] * rows)
    con.commit()
    con.close()


def test_every_policy_check_kind_is_registered():
    kinds = [FileExistsCheck, SqliteCheck, PostgresQueryCheck, MysqlQueryCheck, CommandCheck]
    assert [CHECKS.key_of(k) for k in kinds] == CHECKS.keys()[:5] == ["file_exists", "sqlite", "postgres_query",
                                                                        "mysql_query", "command"]


def test_an_unregistered_check_type_is_an_error_not_a_pass(ctx):
    class Mystery:
        pass

    result = run_check(Mystery(), ctx)
    assert not result.passed and result.error and "no check registered" in result.detail


def test_a_crashing_check_is_reported_as_error(ctx):
    class BoomCheck(Model):
        boom: str

    @register_check(BoomCheck, key="boom", name=lambda c: f"boom {c.boom}")
    def boom(check, ctx):
        raise RuntimeError("bug")

    try:
        result = run_check(CHECK.validate_python({"boom": "x"}), ctx)
    finally:
        CHECKS.remove("boom")
    assert (result.name, result.passed, result.error) == ("boom x", False, True) and "RuntimeError: bug" in result.detail


@pytest.mark.parametrize("path, passed", [
    ("srv/shop/logo.png", True),  # relative to the sandbox root
    ("/srv/shop/logo.png", True),  # original absolute path
    ("/srv/shop/missing.png", False),
    ("../sandbox/srv/shop/logo.png", True),
    ("../../etc/passwd", False),  # leaves the sandbox
])
def test_file_exists_maps_paths_into_the_sandbox(ctx, path, passed):
    result = run_check(CHECK.validate_python({"file_exists": path}), ctx)
    assert result.passed is passed and not result.error and result.seconds >= 0
    assert result.name == f"file_exists {path}"


def test_a_restored_symlink_to_live_data_does_not_satisfy_a_check(ctx, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    (live / "orders.csv").write_text("live data")
    (ctx.sandbox / "srv" / "live").symlink_to(live)
    result = run_check(FileExistsCheck(file_exists="/srv/live/orders.csv"), ctx)
    assert not result.passed and "outside the sandbox" in result.detail


def test_sqlite_target_path_maps_to_its_staged_copy(ctx):
    make_db(ctx.sandbox / "state" / "staging" / "shop" / "sqlite" / "app.db", rows=3)
    ok = CHECK.validate_python({"sqlite": {"path": "/var/lib/app/app.db", "query": "select count(*) from orders",
                                           "expect_min": 3}})
    assert run_check(ok, ctx).passed
    low = CHECK.validate_python({"sqlite": {"path": "/var/lib/app/app.db", "query": "select count(*) from orders",
                                            "expect_min": 4}})
    result = run_check(low, ctx)
    assert not result.passed and "expected at least 4" in result.detail


def test_sqlite_plain_path_expect_and_integrity(ctx):
    make_db(ctx.sandbox / "srv" / "shop" / "shop.db", rows=2)
    spec = {"path": "srv/shop/shop.db", "query": "select status from orders limit 1"}
    assert run_check(CHECK.validate_python({"sqlite": {**spec, "expect": "paid"}}), ctx).passed
    wrong = run_check(CHECK.validate_python({"sqlite": {**spec, "expect": "refunded"}}), ctx)
    assert not wrong.passed and "expected 'refunded'" in wrong.detail
    assert run_check(CHECK.validate_python({"sqlite": {"path": "srv/shop/shop.db"}}), ctx).detail == "integrity_check ok"


def test_sqlite_fails_on_garbage_missing_db_and_bad_sql(ctx):
    (ctx.sandbox / "srv" / "shop" / "junk.db").write_bytes(b"not a database at all" * 100)
    junk = run_check(CHECK.validate_python({"sqlite": {"path": "srv/shop/junk.db"}}), ctx)
    assert not junk.passed and not junk.error
    missing = run_check(CHECK.validate_python({"sqlite": {"path": "srv/shop/none.db"}}), ctx)
    assert not missing.passed and "not in the restored tree" in missing.detail
    make_db(ctx.sandbox / "srv" / "shop" / "shop.db")
    bad = run_check(CHECK.validate_python({"sqlite": {"path": "srv/shop/shop.db", "query": "select * from nope"}}), ctx)
    assert not bad.passed and "no such table" in bad.detail


@pytest.mark.parametrize("value, expect, expect_min, ok", [
    (3, 3, None, True), ("3", 3, None, True), (3.0, "3.0", None, True), (2, 3, None, False),
    ("x", 3, None, False), (5, None, 5, True), (4.9, None, 5, False), (None, None, 1, False), ("a", "a", None, True),
])
def test_value_comparison(value, expect, expect_min, ok):
    assert (value_problem(value, expect, expect_min) is None) is ok


@pytest.mark.parametrize("value, low, high, problem", [
    ("500", 500, 500, None), (499, 500, None, "returned 499, expected at least 500"),
    ("501", None, 500, "returned '501', expected at most 500"), (None, None, 5, "returned None, expected at most 5"),
    ("x", 1, None, "returned 'x', expected at least 1"),
])
def test_value_bounds(value, low, high, problem):
    assert value_problem(value, None, low, high) == problem


@pytest.mark.parametrize("key", ["postgres_query", "mysql_query"])
def test_a_query_check_without_a_database_target_is_an_error_not_a_pass(ctx, key):
    result = run_check(CHECK.validate_python({key: {"database": "shop", "sql": "select 1", "expect": 1}}), ctx)
    kind = key.split("_")[0]
    assert (result.passed, result.error) == (False, True)
    assert result.detail == f"no {kind} target in the policy: a {key} check queries the restored dumps of one"


def test_command_gets_the_sandbox_and_its_exit_code_decides(ctx):
    script = "import os,sys; p=sys.argv[1]; sys.exit(0 if os.path.isfile(p + '/srv/shop/logo.png') " \
             "and os.environ['DRKIT_SANDBOX'] == p and 'RESTIC_PASSWORD' not in os.environ else 7)"
    ok = run_check(CommandCheck(command=[sys.executable, "-c", script, "{sandbox}"]), ctx)
    assert ok.passed, ok.detail
    failing = run_check(CommandCheck(command=[sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"]), ctx)
    assert not failing.passed and not failing.error and failing.detail == "exit 3: boom"


def running(pid: int) -> bool:
    """Alive, and not a zombie waiting for a parent to reap it (an orphan's new parent, PID 1 of a
    container, may never reap it: that is the init's business, not the check's)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_command_timeout_kills_the_whole_group_promptly(ctx, tmp_path):
    pids = tmp_path / "pids"
    script = f"sleep 30 & echo $! >> {pids}; sh -c 'sleep 30' & echo $! >> {pids}; echo $$ >> {pids}; wait"
    spec = CHECK.validate_python({"command": {"run": ["sh", "-c", script], "timeout": "0.5s"}})
    start = time.monotonic()
    result = run_check(spec, ctx)
    assert not result.passed and "timed out" in result.detail
    assert time.monotonic() - start < 10
    started = [int(pid) for pid in pids.read_text().split()]
    assert len(started) == 3  # the shell and both of its children, grandchild included
    deadline = time.monotonic() + 5  # SIGKILL is sent; the kernel finishes them a moment later
    while any(map(running, started)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in started if running(pid)] == []  # a killed leader alone would leave 2 sleeps


def test_command_missing_program_fails(ctx):
    result = run_check(CommandCheck(command=["./no-such-smoke-test.sh"]), ctx)
    assert not result.passed and "not found" in result.detail


def test_run_checks_runs_every_check_even_after_a_failure(ctx):
    results = run_checks([FileExistsCheck(file_exists="nope"), FileExistsCheck(file_exists="srv/shop/logo.png")], ctx)
    assert [r.passed for r in results] == [False, True]
    assert check_name(CommandCheck(command=["a", "b"])) == "command a b"
