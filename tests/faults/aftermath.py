"""What every case of the fault matrix (docs/reliability.md): each case breaks one thing on real restic + SeaweedFS
and asserts what a person at 3 a.m. needs to be true afterwards — one clear line, the documented
exit code, no false PASS, earlier snapshots intact, nothing left behind."""

from __future__ import annotations

import json
import subprocess

from factories import Env


def one_line_error(stderr: str) -> str:
    """The error line of a failed command: exactly one `drkit: error:` line, no traceback."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("drkit: error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert not any(marker in stderr for marker in (".go:", "goroutine", "runtime/")), stderr
    return lines[0]


def assert_intact(env: Env, name: str, snapshots: int | None = None) -> list[dict]:
    """Earlier snapshots are still there and the repository checks clean; no restic lock is left."""
    check = env.restic(name, "check", check=False)
    assert check.returncode == 0, check.stderr
    assert env.restic(name, "list", "locks", "--no-lock").stdout.strip() == ""
    listed = json.loads(env.restic(name, "snapshots", "--json").stdout)
    if snapshots is not None:
        assert len(listed) == snapshots, listed
    return listed


def assert_nothing_left(env: Env) -> None:
    """No drill sandbox, no restic child of this installation still running."""
    drills = env.root / "drills"
    assert not drills.exists() or not any(drills.iterdir()), list(drills.iterdir())
    running = subprocess.run(["pgrep", "-f", f"restic.*{env.bucket}"], capture_output=True, text=True)
    assert running.returncode == 1, running.stdout


def never_passed(env: Env, name: str) -> None:
    """No drill of the policy passed (the catalog holds every drill record)."""
    import sqlite3

    db = sqlite3.connect(env.state / "catalog.sqlite")
    try:
        results = [json.loads(r)["result"] for (r,) in db.execute("select record from evidence where kind = 'drill'")]
    finally:
        db.close()
    assert "pass" not in results, results


