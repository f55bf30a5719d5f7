"""Faults of the offsite store and the repository (docs/reliability.md): S3 down, killed, failing or
slow; wrong password; no repository; a corrupted pack; a snapshot forgotten behind drkit's back;
Object Lock missing; evidence edited or deleted in the bucket."""

from __future__ import annotations

import json
import re
import time

import pytest
from aftermath import (
    assert_intact,
    assert_nothing_left,
    assert_restorable,
    drill_records,
    drill_results,
    never_passed,
    one_line_error,
    verdict_line,
)
from processes import started, wait_for
from s3_proxy import S3Proxy
from scene import object_keys, random_tree, repository_at


def test_s3_down_before_a_backup_is_an_error_and_changes_nothing(backed_up, golden, seaweedfs, tmp_path):
    env = backed_up
    seaweedfs.stop()
    try:
        proc = env.drkit("backup", "shop", check=1)
    finally:
        seaweedfs.start()
    line = one_line_error(proc.stderr)
    assert "repository unreachable" in line and "connection refused" in line, line
    assert proc.stdout == "FAILED shop: backup did not complete\n"
    status = json.loads(env.drkit("status", "--json", check=0).stdout)["policies"][0]
    assert status["last_run_result"] == "error" and status["last_snapshot_id"] == golden.snapshot_id
    assert_intact(env, "shop", snapshots=1)
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "restored")
    assert_nothing_left(env)


def test_s3_killed_mid_backup_and_back_seconds_later_gives_a_complete_snapshot(backed_up, golden, seaweedfs,
                                                                               tmp_path):
    env = backed_up
    big = random_tree(tmp_path / "big")
    env.write_policy("shop", [golden.source, big])
    s3 = seaweedfs.client()
    before = object_keys(s3, env.bucket, "shop/data/")
    proc = started(env.drkit_argv("backup", "shop"), env.env())
    try:
        wait_for(lambda: object_keys(s3, env.bucket, "shop/data/").keys() - before.keys(), "restic's first new pack")
        seaweedfs.stop()
        time.sleep(5)
    finally:
        seaweedfs.start()
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stdout + stderr  # restic retried through the outage: nothing was lost
    assert stdout.startswith("OK shop: snapshot ") and "drkit: error" not in stderr
    [_golden, new] = assert_intact(env, "shop", snapshots=2)
    assert env.restic("shop", "check", "--read-data").returncode == 0
    assert_restorable(env, "shop", new["id"], big, tmp_path / "restored")
    rerun = env.drkit("backup", "shop", check=0)
    assert rerun.stdout.startswith("OK shop: snapshot ") and rerun.stderr == ""
    assert_intact(env, "shop", snapshots=3)
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "first")
    assert_nothing_left(env)


def test_wrong_password_is_an_error_saying_so_never_damage(backed_up, golden, tmp_path):
    env = backed_up
    right = env.password_file.read_text()
    env.password_file.write_text("not the password\n")
    for command in (("backup", "shop"), ("restore-drill", "shop"), ("repo", "check", "shop")):
        proc = env.drkit(*command, check=1)
        line = one_line_error(proc.stderr)
        assert "wrong repository password (restic: wrong password or no key found)" in line, line
        assert "damaged" not in proc.stdout + proc.stderr
    env.password_file.write_text(right)
    never_passed(env, "shop")
    assert_intact(env, "shop", snapshots=1)
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "restored")
    assert_nothing_left(env)


def test_a_wrong_s3_secret_key_is_named_as_refused_credentials_not_a_missing_repository(backed_up, golden, tmp_path):
    """restic wraps S3's refusal in "unable to open config file … Is there a repository": drkit once
    read that as no repository and advised `repo init`, which a wrong key cannot fix."""
    env = backed_up
    wrong = env.env(AWS_SECRET_ACCESS_KEY="not-the-secret-key")
    for command in (("backup", "shop"), ("restore-drill", "shop"), ("snapshots", "shop")):
        proc = env.drkit(*command, check=1, env=wrong)
        line = one_line_error(proc.stderr)
        assert "S3 refused the" in line and "credentials" in line, line  # restic's words or boto3's
        assert "repo init" not in proc.stdout + proc.stderr and "not-the-secret-key" not in proc.stderr
    never_passed(env, "shop")
    assert_intact(env, "shop", snapshots=1)
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "restored")
    assert_nothing_left(env)


def test_no_repository_at_the_url_is_an_error_pointing_at_repo_init(backed_up, golden, tmp_path):
    env = backed_up
    env.write_policy("shop", [golden.source], repository={"url": f"s3:{env.endpoint}/{env.bucket}/elsewhere",
                                                          "password_file": str(env.password_file)})
    for command in (("backup", "shop"), ("restore-drill", "shop"), ("repo", "check", "shop")):
        proc = env.drkit(*command, check=1)
        line = one_line_error(proc.stderr)
        assert "no restic repository at the configured URL (run: drkit repo init shop)" in line, line
        assert "damaged" not in proc.stdout + proc.stderr
    never_passed(env, "shop")
    assert_intact(env, "shop", snapshots=1)  # the real repository, at shop/
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "restored")
    assert_nothing_left(env)


def test_a_corrupted_pack_fails_the_drill_and_the_full_check_with_exit_4(backed_up, golden, seaweedfs, tmp_path):
    env = backed_up
    env.write_policy("shop", [golden.source, random_tree(tmp_path / "extra", files=1, size=2 << 20)])
    s3 = seaweedfs.client()
    before = object_keys(s3, env.bucket, "shop/data/")
    env.drkit("backup", "shop", check=0)
    new_packs = {key: size for key, size in object_keys(s3, env.bucket, "shop/data/").items() if key not in before}
    damaged = max(new_packs, key=new_packs.__getitem__)  # the new file's data, not the small tree pack
    body = s3.get_object(Bucket=env.bucket, Key=damaged)["Body"].read()
    s3.put_object(Bucket=env.bucket, Key=damaged, Body=body[:64] + bytes(len(body) - 64))

    drill = env.drkit("restore-drill", "shop", check=4)
    line = verdict_line(drill.stdout, drill.stderr, "FAIL")
    # verify: full leaves restic's read-back out (docs/performance.md): restic's restore itself
    # authenticates every blob it decrypts, so the damage still fails the restore
    assert "restic restore failed" in line and "the repository may be damaged" in line, line
    assert "(run: drkit repo check shop --read-data-subset 100%)" in line
    check = env.drkit("repo", "check", "shop", "--read-data-subset", "all", check=4)
    line = one_line_error(check.stderr)
    assert "shop: repository damaged (read subset 100%)" in line and damaged.rsplit("/", 1)[1] in line, line
    assert drill_results(env, "shop") == ["fail"]
    assert_intact(env, "shop", snapshots=2)  # the structure is sound: only reading the data finds it
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "restored")  # no shared pack
    assert_nothing_left(env)


def test_a_snapshot_forgotten_after_listing_is_a_clear_refusal_not_damage(backed_up, golden, tmp_path):
    env = backed_up
    env.drkit("backup", "shop", check=0)
    assert len(env.drkit("snapshots", "shop", check=0).stdout.splitlines()) == 1 + 2  # header + both: the catalog lists both
    env.restic("shop", "forget", golden.snapshot_id)  # an operator, with plain restic
    proc = env.drkit("restore-drill", "shop", "--snapshot", golden.snapshot_id[:8], check=2)
    line = one_line_error(proc.stderr)
    assert (f"snapshot '{golden.snapshot_id[:8]}' is no longer in the repository of shop (forgotten or pruned "
            "since it was listed) (list them: drkit snapshots shop)") in line, line
    assert proc.stdout == "FAILED shop: drill did not run\n" and "damaged" not in proc.stderr
    assert drill_results(env, "shop") == []  # refused: no evidence
    [kept] = assert_intact(env, "shop", snapshots=1)
    assert_restorable(env, "shop", kept["id"], golden.source, tmp_path / "restored")
    assert_nothing_left(env)


def test_object_lock_required_but_absent_exits_3_at_repo_init(backed_up, golden, tmp_path):
    env = backed_up
    env.write_policy("shop", [golden.source], repository=repository_at(env, env.endpoint, require_object_lock=True))
    proc = env.drkit("repo", "init", "shop", check=3)
    line = one_line_error(proc.stderr)
    assert (f"shop: repository.require_object_lock is true but bucket '{env.bucket}' has no Object Lock "
            f"(turn it on (AWS, versioned bucket: aws s3api put-object-lock-configuration --bucket {env.bucket} "
            "--object-lock-configuration ObjectLockEnabled=Enabled; providers that allow it only at creation: a new "
            "bucket), then: drkit repo audit shop)") in line, line
    report = json.loads(env.drkit("repo", "init", "shop", "--json", check=3).stdout)
    assert report["object_lock"] is False and report["object_lock_missing"] is True
    assert_intact(env, "shop", snapshots=1)
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "restored")
    assert_nothing_left(env)


EVIDENCE_FAULTS = {
    "newest_edited": ("edit", -1, "signature does not match the record (edited after signing?)"),
    "oldest_deleted": ("delete", 0, "chain starts with a missing record"),
    "newest_deleted": ("delete", -1, "was uploaded from this host but is missing from the bucket (deleted?)"),
}


@pytest.mark.parametrize("fault", EVIDENCE_FAULTS)
def test_evidence_edited_or_deleted_in_the_bucket_fails_remote_verification(backed_up, golden, seaweedfs, tmp_path,
                                                                            fault):
    env = backed_up
    env.drkit("backup", "shop", check=0)
    s3 = seaweedfs.client()
    assert env.drkit("evidence", "verify", "--remote", check=0).stdout.startswith("2 records, 1 policy")
    action, index, problem = EVIDENCE_FAULTS[fault]
    key = sorted(object_keys(s3, env.bucket, "drkit-evidence/shop/"))[index]  # names start with the finish time
    if action == "edit":
        body = s3.get_object(Bucket=env.bucket, Key=key)["Body"].read()
        s3.put_object(Bucket=env.bucket, Key=key, Body=body.replace(b'"files":23', b'"files":24'))
    else:
        s3.delete_object(Bucket=env.bucket, Key=key)
    proc = env.drkit("evidence", "verify", "--remote", check=4)
    assert re.search(r"^\d+ problems? in \d+ records?, 1 policy$", proc.stdout, re.M) and "drkit: error" not in proc.stderr
    assert any(problem in ln for ln in proc.stderr.splitlines()), proc.stderr
    assert json.loads(env.drkit("evidence", "verify", "--remote", "--json", check=4).stdout)["ok"] is False
    env.drkit("evidence", "verify", check=0)  # the local catalog is whole: the bucket copy was changed
    assert_intact(env, "shop", snapshots=2)
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "restored")
    assert_nothing_left(env)


def test_s3_answering_503_to_every_third_request_still_gives_true_results(backed_up, golden, tmp_path):
    env = backed_up
    with S3Proxy(env.endpoint, fail_every=3) as proxy:
        env.write_policy("shop", [golden.source], repository=repository_at(env, proxy.endpoint))
        backup = env.drkit("backup", "shop", "--json", check=0)
        drill = json.loads(env.drkit("restore-drill", "shop", "--json", check=0).stdout)
        env.drkit("repo", "check", "shop", check=0)
        verified = env.drkit("evidence", "verify", "--remote", check=0)
    assert proxy.failed >= 10, f"only {proxy.failed} of {proxy.requests} requests failed: the fault proved nothing"
    assert "warning" not in backup.stderr.lower()  # every evidence record reached the bucket, retried
    assert verified.stdout.startswith("4 records, 1 policy: signatures ok")
    assert drill["result"] == "pass" and drill["record"]["measured"]["files_hashed"] > 0  # verified, not assumed
    [_golden, new] = assert_intact(env, "shop", snapshots=2)
    assert_restorable(env, "shop", new["id"], golden.source, tmp_path / "restored")
    assert_nothing_left(env)


def test_slow_s3_makes_the_drill_a_breach_of_a_tight_rto(backed_up, golden, tmp_path):
    env = backed_up
    with S3Proxy(env.endpoint, delay_s=0.25) as proxy:
        env.write_policy("shop", [golden.source], repository=repository_at(env, proxy.endpoint),
                         objectives={"rpo": "24h", "rto": "2s"})
        proc = env.drkit("restore-drill", "shop", check=3)
    line = verdict_line(proc.stdout, proc.stderr, "BREACH")
    assert "shop: recovered " in line and "(RTO 2s, " in line, line
    [record] = drill_records(env, "shop")
    assert record["result"] == "breach" and record["errors"][0].startswith("shop: recovery took "), record
    assert record["measured"]["files_hashed"] > 0  # verified, then judged against the RTO
    assert_intact(env, "shop", snapshots=1)
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "restored")
    assert_nothing_left(env)
