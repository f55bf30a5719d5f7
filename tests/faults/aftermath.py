"""What every case of the fault matrix (docs/reliability.md) checks afterwards: each case breaks one
thing on real restic + SeaweedFS and asserts what a person at 3 a.m. needs to be true — one clear
line, the documented exit code, no false PASS, earlier snapshots intact and restorable, nothing left
behind (no process, sandbox, run lock or restic lock)."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from pathlib import Path

from factories import Env, same_tree
from processes import installation_processes


def one_line_error(stderr: str) -> str:
    """The error line of a failed command: exactly one `drkit: error:` line, no traceback."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("drkit: error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert not any(marker in stderr for marker in (".go:", "goroutine", "runtime/")), stderr
    return lines[0]


def verdict_line(stdout: str, stderr: str, verdict: str, policy: str = "shop") -> str:
    """A drill that ran names its verdict, and for FAIL and BREACH its cause, in one line on stdout;
    the cause is then not repeated on stderr (printed once, docs/json.md)."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith(f"{verdict} {policy}: ")]
    assert len(lines) == 1, stdout
    assert "drkit: error:" not in stderr and "Traceback" not in stderr, stderr
    return lines[0]


def assert_intact(env: Env, name: str, snapshots: int | None = None) -> list[dict]:
    """Earlier snapshots are still there and the repository checks clean; no restic lock is left
    (restic 0.14's `check` takes an exclusive lock, which any other lock, stale or not, refuses)."""
    check = env.restic(name, "check", check=False)
    assert check.returncode == 0, check.stderr
    listed = json.loads(env.restic(name, "snapshots", "--json").stdout)
    if snapshots is not None:
        assert len(listed) == snapshots, listed
    return listed


def assert_restorable(env: Env, name: str, snapshot_id: str, source: Path, into: Path) -> None:
    """Plain restic restores the snapshot, and the restored copy of `source` equals it byte for byte
    (drkit backs up absolute paths, so the copy sits at INTO/<source path>)."""
    env.restic(name, "restore", snapshot_id, "--target", str(into))
    restored = into / source.relative_to(source.anchor)
    assert same_tree(restored, source), f"snapshot {snapshot_id[:8]} does not restore {source} exactly"


def assert_nothing_left(env: Env, *sandboxes: Path) -> None:
    """No drill sandbox (the policy's or those given), no process of this installation still running
    (drkit, restic, dump programs, checks: all carry its DRKIT_STATE_DIR), no run lock held or
    naming a holder."""
    for parent in (env.root / "drills", *sandboxes):
        assert not parent.exists() or not any(parent.iterdir()), list(parent.iterdir())
    left = installation_processes(env.state)
    assert left == {}, left
    for lock in (env.state / "locks").glob("*.lock"):
        fd = os.open(lock, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: a run still holds it
            assert os.pread(fd, 200, 0) == b"", f"{lock} still names a holder"
        finally:
            os.close(fd)


def never_passed(env: Env, name: str) -> None:
    """No drill of the policy passed (the catalog holds every drill record)."""
    assert "pass" not in drill_results(env, name), drill_results(env, name)


def drill_results(env: Env, name: str) -> list[str]:
    return [record["result"] for record in drill_records(env, name)]


def drill_records(env: Env, name: str) -> list[dict]:
    """The policy's drill evidence records in the catalog, oldest first."""
    db = sqlite3.connect(env.state / "catalog.sqlite")
    try:
        rows = db.execute("select record from evidence where kind = 'drill' and policy = ? order by finished_at",
                          (name,))
        return [json.loads(record) for (record,) in rows]
    finally:
        db.close()
