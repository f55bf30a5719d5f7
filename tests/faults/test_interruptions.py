"""Runs that are killed, stopped or overlap (docs/reliability.md): drkit or restic SIGKILLed
mid-backup, SIGTERM mid-drill, a second run of a policy while one holds its lock."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess

import pytest
from aftermath import (
    assert_intact,
    assert_nothing_left,
    assert_restorable,
    drill_records,
    never_passed,
    one_line_error,
)
from processes import children, reaped, running_program, started, wait_for
from s3_proxy import S3Proxy
from scene import object_keys, random_tree, repository_at


@pytest.mark.parametrize("victims", ["drkit_and_restic", "restic_alone"])
def test_killed_mid_backup_then_the_rerun_succeeds_and_clears_the_stale_restic_lock(backed_up, golden, seaweedfs,
                                                                                    tmp_path, victims):
    env = backed_up
    big = random_tree(tmp_path / "big", files=4)
    env.write_policy("shop", [golden.source, big])
    s3 = seaweedfs.client()
    before = object_keys(s3, env.bucket, "shop/data/")
    reaper = reaped(env.drkit_argv("backup", "shop"), env=env.env(), stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True)
    wait_for(lambda: object_keys(s3, env.bucket, "shop/data/").keys() - before.keys(), "restic's first new pack")
    [drkit] = children(reaper.pid)
    restic = children(drkit)
    assert restic, "restic should be running under drkit"
    for pid in (restic if victims == "restic_alone" else [drkit, *restic]):  # no cleanup: SIGKILL, the OOM killer
        os.kill(pid, signal.SIGKILL)
    stdout, stderr = reaper.communicate(timeout=120)
    assert len(json.loads(env.restic("shop", "snapshots", "--json", "--no-lock").stdout)) == 1, "killed too late"
    assert env.restic("shop", "list", "locks", "--no-lock").stdout.strip(), "the kill should leave restic's lock"

    if victims == "restic_alone":  # drkit saw its child die and says so
        assert "backup: restic was stopped by signal 9" in one_line_error(stderr)
        assert stdout == "INTERRUPTED shop: backup did not complete\n"
    else:  # nothing could be printed; the run lock still names the dead holder
        assert stdout == stderr == ""
        assert f"backup, pid {drkit} since " in (env.state / "locks" / "shop.lock").read_text()

    rerun = env.drkit("backup", "shop", check=0)
    assert rerun.stdout.startswith("OK shop: snapshot ")
    warnings = rerun.stderr.splitlines()
    if victims == "restic_alone":
        assert warnings == []
    else:
        assert len(warnings) == 1 and f"previous run (backup, pid {drkit} since " in warnings[0], warnings
        assert warnings[0].endswith("ended without finishing; its stale restic locks were removed")
    [_golden, new] = assert_intact(env, "shop", snapshots=2)
    assert_restorable(env, "shop", new["id"], big, tmp_path / "restored")
    assert_nothing_left(env)


def test_sigterm_mid_drill_records_an_interrupted_drill_and_leaves_nothing(backed_up, golden, tmp_path):
    env = backed_up
    with S3Proxy(env.endpoint, delay_s=0.2) as slow:  # a restore that takes seconds, to stop it halfway
        env.write_policy("shop", [golden.source], repository=repository_at(env, slow.endpoint))
        drill = started(env.drkit_argv("restore-drill", "shop"), env.env())
        wait_for(lambda: running_program(env.state, "restic", "restore"), "restic restore")
        drill.send_signal(signal.SIGTERM)
        stdout, stderr = drill.communicate(timeout=60)
    assert drill.returncode == 1, stdout + stderr
    assert one_line_error(stderr) == "drkit: error: stopped by signal SIGTERM"
    assert "ERROR shop: the drill could not complete" in stdout
    [record] = drill_records(env, "shop")
    assert record["result"] == "interrupted" and record["errors"] == ["stopped by signal SIGTERM"], record
    env.write_policy("shop", [golden.source])
    assert_intact(env, "shop", snapshots=1)
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "restored")
    assert_nothing_left(env)


def test_a_second_run_while_one_holds_the_policy_exits_5_and_records_nothing(backed_up, golden, tmp_path):
    env = backed_up
    begun, go = tmp_path / "dump-begun", tmp_path / "go"
    dump = f"touch {begun}; while [ ! -e {go} ]; do sleep 0.1; done; echo dump"
    env.write_policy("shop", targets=[{"path": str(golden.source)},
                                      {"command": {"run": ["sh", "-c", dump], "filename": "db.dump"}}])
    first = started(env.drkit_argv("backup", "shop"), env.env())
    try:
        wait_for(begun.exists, "the first backup's dump")
        for command, said in ((("backup", "shop"), "backup did not complete"), (("restore-drill", "shop"),
                              "drill did not run"), (("repo", "check", "shop"), "repository check")):
            proc = env.drkit(*command, check=5)
            line = one_line_error(proc.stderr)
            assert line.startswith(f"drkit: error: shop: already running (backup, pid {first.pid} since "), line
            assert line.endswith("(wait for it to finish, or check `drkit status`)")
            assert proc.stdout.startswith(f"LOCKED shop: {said}"), proc.stdout
    finally:
        go.touch()
    stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0 and stdout.startswith("OK shop: snapshot "), stdout + stderr
    db = sqlite3.connect(env.state / "catalog.sqlite")
    kinds = [kind for (kind,) in db.execute("select kind from evidence where policy = 'shop' order by finished_at")]
    db.close()
    assert kinds == ["backup", "backup"]  # the golden one and the first run: locked runs record nothing
    never_passed(env, "shop")
    [_golden, new] = assert_intact(env, "shop", snapshots=2)
    assert_restorable(env, "shop", new["id"], golden.source, tmp_path / "restored")
    assert_nothing_left(env)
