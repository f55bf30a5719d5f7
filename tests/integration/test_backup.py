"""Foundation end to end: real restic, real SeaweedFS over HTTP, the real CLI as a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from factories import PASSWORD, same_tree
from processes import children, reaped
from servers import free_port

pytestmark = pytest.mark.slow


def test_repo_init_is_idempotent_and_reports_bucket_state(env, source):
    env.write_policy("site", [source])
    first = env.drkit("repo", "init", "site", check=0)
    assert "initialized" in first.stdout and "Object Lock: not enabled" in first.stdout
    second = env.drkit("repo", "init", "site", check=0)
    assert "already initialized" in second.stdout


def test_require_object_lock_without_lock_exits_3(env, source, bucket):
    # the `bucket` fixture made a plain bucket, without Object Lock
    env.write_policy("locked", [source], repository={
        "url": f"s3:{env.endpoint}/{bucket}/locked", "password_file": str(env.password_file),
        "require_object_lock": True})
    proc = env.drkit("repo", "init", "locked", check=3)
    assert "has no Object Lock" in proc.stderr


def test_require_object_lock_creates_a_locked_bucket(env, source, seaweedfs):
    env.write_policy("locked", [source], repository={
        "url": f"s3:{env.endpoint}/{env.bucket}-ol/locked", "password_file": str(env.password_file),
        "require_object_lock": True})
    proc = env.drkit("repo", "init", "locked", "--json", check=0)
    data = json.loads(proc.stdout)
    assert data["schema"] == "drkit.repo-init/1"
    assert data["bucket_created"] and data["object_lock"] is True


def test_backup_rebackup_list_and_plain_restic_restore_is_byte_identical(env, source, tmp_path):
    env.write_policy("site", [source])
    env.drkit("repo", "init", "site", check=0)
    assert env.drkit("status").returncode == 3  # no backup at all yet

    first = env.drkit("backup", "site", check=0)
    assert first.stdout.startswith("OK site: snapshot ")
    (source / "README").write_text("changed after the first backup\n")
    (source / "new.txt").write_text("new file\n")
    env.drkit("backup", "site", check=0)

    listing = json.loads(env.drkit("snapshots", "site", "--json", check=0).stdout)
    assert listing["schema"] == "drkit.snapshots/1" and listing["policy"] == "site"
    snaps = listing["snapshots"]
    assert len(snaps) == 2 and all(len(s["id"]) == 64 for s in snaps)
    assert {"drkit", "drkit-policy=site"} <= set(snaps[-1]["tags"])

    status = json.loads(env.drkit("status", "--json", check=0).stdout)
    assert status["schema"] == "drkit.status/1"
    [row] = status["policies"]
    assert row["verdict"] == "OK" and row["last_snapshot_id"] == snaps[-1]["id"]

    # An operator with only restic and the password gets the data back, byte for byte.
    env.restic("site", "restore", snaps[-1]["id"], "--target", str(tmp_path / "restored"))
    assert same_tree(source, tmp_path / "restored" / source.relative_to("/"))


def test_backup_json_record_has_full_snapshot_id_and_figures(env, source):
    env.write_policy("site", [source])
    env.drkit("repo", "init", "site", check=0)
    [result] = json.loads(env.drkit("backup", "site", "--json", check=0).stdout)["runs"]
    record = result["record"]
    assert result["status"] == "ok" and record["result"] == "pass"
    assert len(record["snapshot_id"]) == 64
    assert record["files"] >= 20 and record["bytes"] > 80_000
    assert record["restic_version"].startswith("0.") and record["signature"]


def test_missing_source_exits_1_naming_the_path_and_makes_no_snapshot(env, source, tmp_path):
    missing = tmp_path / "not-there"
    env.write_policy("site", [source, missing])
    env.drkit("repo", "init", "site", check=0)
    proc = env.drkit("backup", "site", check=1)
    assert str(missing) in proc.stderr + proc.stdout
    assert json.loads(env.restic("site", "snapshots", "--json").stdout) == []


def test_wrong_password_exits_1_saying_so(env, source):
    env.write_policy("site", [source])
    env.drkit("repo", "init", "site", check=0)
    env.password_file.write_text("not the password\n")
    proc = env.drkit("backup", "site", check=1)
    assert "wrong repository password" in proc.stdout + proc.stderr


def test_unreachable_s3_exits_1_quickly_saying_so(env, source):
    dead = f"http://127.0.0.1:{free_port()}"
    env.write_policy("site", [source], repository={"url": f"s3:{dead}/{env.bucket}/site",
                                                   "password_file": str(env.password_file)})
    started = time.monotonic()
    proc = env.drkit("backup", "site", check=1, timeout=120)
    assert time.monotonic() - started < 60
    assert "unreachable" in proc.stdout + proc.stderr


def test_backup_all_continues_after_a_failure_and_exits_with_the_worst(env, source, tmp_path):
    env.write_policy("good", [source])
    env.write_policy("bad", [tmp_path / "missing"])
    env.drkit("repo", "init", "good", check=0)
    env.drkit("repo", "init", "bad", check=0)
    proc = env.drkit("backup", "--all", check=1)
    assert "OK good:" in proc.stdout and "FAILED bad:" in proc.stdout


def test_misspelt_key_exits_2_naming_file_line_and_key(env, source):
    path = env.write_policy("site", [source])
    path.write_text(path.read_text().replace("objectives:", "objectivs:"))
    proc = env.drkit("backup", "site", check=2)
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln.startswith("objectivs"))
    assert f"{path}:{line}: objectivs: unknown key 'objectivs'" in proc.stderr


def _big_source(root: Path, mb: int = 120) -> Path:
    root.mkdir(parents=True)
    for i in range(mb // 8):
        (root / f"blob{i}.bin").write_bytes(os.urandom(8 << 20))
    return root


def _start_backup(env, name: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "drkit", "backup", name], env=env.env(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_restic_lock(env, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if env.restic(name, "list", "locks", "--no-lock", check=False).stdout.strip():
            return
        time.sleep(0.2)
    raise AssertionError("restic never took its lock")


def test_no_secret_in_any_process_argv_during_backup(env, tmp_path, seaweedfs):
    env.write_policy("big", [_big_source(tmp_path / "big")])
    env.drkit("repo", "init", "big", check=0)
    proc = _start_backup(env, "big")
    secrets = [PASSWORD.encode(), seaweedfs.secret_key.encode()]
    seen_restic = False
    while proc.poll() is None:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            seen_restic |= argv.startswith(b"/usr/bin/restic") or b"restic\x00backup" in argv
            assert not any(s in argv for s in secrets), argv.replace(b"\0", b" ")
        time.sleep(0.05)
    assert proc.returncode == 0, proc.stderr
    assert seen_restic, "the scan never saw restic running; the test proved nothing"


def test_stale_lock_of_a_killed_backup_is_cleared_and_backup_succeeds(env, tmp_path):
    env.write_policy("big", [_big_source(tmp_path / "big")])
    env.drkit("repo", "init", "big", check=0)
    reaper = reaped(env.drkit_argv("backup", "big"), env=env.env(), stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
    _wait_for_restic_lock(env, "big")
    [drkit] = children(reaper.pid)
    restic = children(drkit)
    assert restic, "restic should be running under drkit"
    for pid in [drkit, *restic]:  # both die without any cleanup
        os.kill(pid, signal.SIGKILL)
    reaper.wait(30)
    assert env.restic("big", "list", "locks", "--no-lock").stdout.strip(), "a stale lock should be left behind"
    done = env.drkit("backup", "big", check=0, timeout=300)
    assert done.stdout.startswith("OK big:")
    assert "stale restic locks were removed" in done.stderr, done.stderr
    assert env.restic("big", "list", "locks", "--no-lock").stdout.strip() == ""


def test_backup_lists_the_repository_by_difference_keeping_manual_snapshots(env, source, tmp_path):
    """A backup takes its snapshot's facts from restic's summary. Within listing.COMPARE_EVERY of
    the last comparison it adds only its own snapshot; then it compares every snapshot name: a
    manual `restic backup` made in between is in the catalog, a forgotten snapshot is gone, and
    every row equals what `restic snapshots` says (docs/performance.md)."""
    import sqlite3

    def catalog_rows() -> dict[str, tuple]:
        with sqlite3.connect(env.state / "catalog.sqlite") as db:
            return {i: (t, h, json.loads(tags)) for i, t, h, tags in
                    db.execute("select id, time, hostname, tags from snapshots where policy = 'site'")}

    env.write_policy("site", [source])
    env.drkit("repo", "init", "site", check=0)
    [first] = json.loads(env.drkit("backup", "site", "--json", check=0).stdout)["runs"]
    manual_file = tmp_path / "manual.txt"
    manual_file.write_text("made by hand\n")
    env.restic("site", "backup", "--host", "elsewhere", "--tag", "by-hand", str(manual_file))
    env.restic("site", "forget", first["record"]["snapshot_id"])
    [second] = json.loads(env.drkit("backup", "site", "--json", check=0).stdout)["runs"]
    assert set(catalog_rows()) == {first["record"]["snapshot_id"], second["record"]["snapshot_id"]}

    with sqlite3.connect(env.state / "catalog.sqlite") as db:  # the last comparison was 7 hours ago
        db.execute("update snapshot_listings set listed_at = ? where policy = 'site'",
                   ((datetime.now(timezone.utc) - timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),))
    [third] = json.loads(env.drkit("backup", "site", "--json", check=0).stdout)["runs"]

    truth = {s["id"]: s for s in json.loads(env.restic("site", "snapshots", "--json").stdout)}
    rows = catalog_rows()
    assert set(rows) == set(truth) and len(rows) == 3 and third["record"]["snapshot_id"] in rows
    for snapshot_id, (when, host, tags) in rows.items():
        assert host == truth[snapshot_id]["hostname"] and tags == truth[snapshot_id].get("tags", [])
        restic_time = datetime.fromisoformat(truth[snapshot_id]["time"].replace("Z", "+00:00"))
        assert abs(datetime.fromisoformat(when.replace("Z", "+00:00")) - restic_time).total_seconds() < 1
    assert any(host == "elsewhere" and "by-hand" in tags for _, host, tags in rows.values())
