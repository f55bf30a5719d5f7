"""Faults that once gave a false verdict (docs/reliability.md)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from aftermath import assert_intact, assert_nothing_left, never_passed, one_line_error

DROP_ROOT_READ = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search",
                  "--inh-caps", "-dac_override,-dac_read_search"]


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux) to drop root's read override")
def test_a_file_unreadable_at_backup_time_makes_every_drill_of_that_snapshot_fail(env, source):
    secret = source / "nested" / "secret.dat"
    secret.write_bytes(b"payroll" * 1000)
    secret.chmod(0)
    env.write_policy("shop", [source])
    env.drkit("repo", "init", "shop", check=0)
    proc = subprocess.run([*DROP_ROOT_READ, *env.drkit_argv("backup", "shop")], capture_output=True, text=True,
                          env=env.env(), timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("PARTIAL shop:") and "could not be read" in proc.stdout
    drill = env.drkit("restore-drill", "shop", check=4)
    assert f"{secret}: could not be read at backup time" in drill.stdout + drill.stderr
    assert drill.stdout.count("FAIL shop:") == 1
    never_passed(env, "shop")
    assert_intact(env, "shop", snapshots=1)
    assert_nothing_left(env)


@pytest.mark.parametrize("source_of_password, cause", [
    ({"password_command": ["/bin/false"]}, "the password command failed (exit status 1)"),
    ({"password_command": ["/bin/true"]}, "it is empty"),
    ({"password_file": "/nonexistent/password"}, "/nonexistent/password does not exist"),
])
def test_a_failing_password_source_is_an_error_naming_it_never_damage(backed_up, source, source_of_password, cause):
    env = backed_up
    good = env.policies / "shop.yaml"
    env.write_policy("shop", [source], repository={"url": f"s3:{env.endpoint}/{env.bucket}/shop", **source_of_password})
    for command in (("backup", "shop"), ("restore-drill", "shop"), ("repo", "check", "shop")):
        proc = env.drkit(*command, check=1)
        line = one_line_error(proc.stderr)
        assert f"the repository password could not be read: {cause}" in line, line
        assert "damaged" not in proc.stdout + proc.stderr
    good.unlink()
    env.write_policy("shop", [source])
    never_passed(env, "shop")
    assert_intact(env, "shop", snapshots=1)
    assert_nothing_left(env)


def test_a_future_dated_snapshot_is_skipped_by_latest_drills(backed_up, source):
    env = backed_up
    [good] = json.loads(env.restic("shop", "snapshots", "--json").stdout)
    env.restic("shop", "backup", "--tag", "drkit", "--tag", "drkit-policy=shop", "--time", "2099-01-01 00:00:00",
               str(source))
    run = json.loads(env.drkit("restore-drill", "shop", "--json", check=0).stdout)
    assert run["result"] == "pass" and run["record"]["snapshot_id"] == good["id"], run
    assert run["record"]["measured"]["skipped_future_snapshots"] != []
    assert any("dated in the future" in warning for warning in run["warnings"])
    assert_intact(env, "shop", snapshots=2)
    assert_nothing_left(env)


def test_a_refused_drill_records_nothing_and_status_stays_ok(backed_up):
    env = backed_up
    env.drkit("restore-drill", "shop", check=0)
    before = env.drkit("status", "--json", check=0).stdout
    proc = env.drkit("restore-drill", "shop", "--snapshot", "deadbeef", check=2)
    assert "no snapshot 'deadbeef'" in one_line_error(proc.stderr)
    after = json.loads(env.drkit("status", "--json", check=0).stdout)
    assert after["policies"][0]["last_drill_result"] == "pass"
    assert json.loads(before)["policies"][0]["last_drill_at"] == after["policies"][0]["last_drill_at"]
    assert_nothing_left(env)
