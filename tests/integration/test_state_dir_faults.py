"""State-directory faults with real restic and SeaweedFS (docs/reliability.md): a read-only
state dir or sandbox parent (EACCES) and a full state dir (ENOSPC) exit 1 with one line naming
the path and the cause; earlier evidence stays in the catalog and `drkit status` still works."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from factories import Env
from mounts import fill, tmpfs, without_dac_override

from drkit.engines.catalog import Catalog

pytestmark = pytest.mark.slow


def drkit_restricted(env: Env, *args: str) -> subprocess.CompletedProcess:
    """The real CLI with file modes binding (root's CAP_DAC_OVERRIDE dropped)."""
    argv = without_dac_override([sys.executable, "-m", "drkit", *args])
    return subprocess.run(argv, capture_output=True, text=True, env=env.env(), timeout=300)


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one `drkit: error:` line of a run that exited 1 without an internal error."""
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("drkit: error: ")]
    return line


def evidence(env: Env) -> list[tuple[str, str, str]]:
    """(kind, result, digest) of every record in the catalog, oldest first."""
    catalog = Catalog(env.state / "catalog.sqlite")
    try:
        return [(r.kind, r.result, r.digest()) for r in catalog.records()]
    finally:
        catalog.close()


def assert_still_usable(env: Env) -> None:
    status = env.drkit("status", "--json")
    assert status.returncode in (0, 3), status.stderr  # 3: no passing drill yet is a breach, not a fault
    assert [row["policy"] for row in json.loads(status.stdout)["policies"]] == ["site"]
    assert "signatures ok, chains intact" in env.drkit("evidence", "verify", check=0).stdout


@pytest.fixture
def backed_up(env, source) -> list[tuple[str, str, str]]:
    env.write_policy("site", [source])
    env.drkit("repo", "init", "site", check=0)
    env.drkit("backup", "site", check=0)
    return evidence(env)


def test_read_only_state_dir(env, backed_up):
    subprocess.run(["chmod", "-R", "a-w", str(env.state)], check=True)
    try:
        for args in (("backup", "site"), ("restore-drill", "site"), ("status",)):
            line = error_line(drkit_restricted(env, *args))
            assert str(env.state) in line, line
            assert "Permission denied" in line or "attempt to write a readonly database" in line, line
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(env.state)], check=True)
    assert evidence(env) == backed_up  # nothing lost
    assert_still_usable(env)


def test_read_only_sandbox_parent(env, backed_up):
    parent = env.root / "drills"  # the policy's drill.sandbox
    parent.mkdir()
    parent.chmod(0o555)
    proc = drkit_restricted(env, "restore-drill", "site")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert any(ln.startswith("ERROR site: ") for ln in proc.stdout.splitlines())  # the verdict; the cause on stderr
    [verdict] = [ln for ln in proc.stderr.splitlines() if ln.startswith("drkit: error: ")]
    assert f"cannot create the drill sandbox: {parent}/site-" in verdict and "Permission denied" in verdict
    assert "--sandbox DIR" in verdict
    after = evidence(env)
    assert after[:len(backed_up)] == backed_up and after[-1][:2] == ("drill", "error")
    assert_still_usable(env)


def test_full_state_dir(env, source, tmp_path):
    with tmpfs(tmp_path / "small", "1m") as small:
        env.state.symlink_to(small)  # DRKIT_STATE_DIR on a 1 MiB file system
        env.write_policy("site", [source])
        env.drkit("repo", "init", "site", check=0)
        env.drkit("backup", "site", check=0)
        before = evidence(env)
        filler = fill(small)
        try:
            line = error_line(env.drkit("backup", "site"))
        finally:
            filler.unlink()
        assert str(env.state) in line or str(small) in line, line
        assert any(cause in line for cause in ("No space left on device", "database or disk is full",
                                               "disk I/O error")), line
        assert evidence(env)[:len(before)] == before
        assert_still_usable(env)
        env.drkit("backup", "site", check=0)  # with room again, the next run works
