"""`drkit repo audit` against real S3 servers: moto_server (implements every control's API) and
SeaweedFS (no public access block API): exit 3 when a required control is missing, 0 when all are in place."""

from __future__ import annotations

import json
import uuid

import pytest
from factories import make_env

pytestmark = pytest.mark.slow


def _locked_policy(env, source, bucket: str, **repo) -> None:
    env.write_policy("vault", [source], repository={
        "url": f"s3:{env.endpoint}/{bucket}/vault", "password_file": str(env.password_file),
        "require_object_lock": True, "lock_days": 3, **repo})


def _controls(proc) -> dict[str, dict]:
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "drkit.repo-audit/1"
    return {c["name"]: c for c in doc["controls"]}


def test_audit_on_moto_exits_3_without_object_lock_and_0_with_it(tmp_path, moto_server, source):
    plain = f"plain-{uuid.uuid4().hex[:8]}"
    moto_server.client().create_bucket(Bucket=plain)
    env = make_env(tmp_path, moto_server, plain)
    _locked_policy(env, source, plain)
    proc = env.drkit("repo", "audit", "vault", check=3)
    assert "lacks required control(s): versioning, object_lock" in proc.stderr
    assert "MISSING     object_lock         required  the bucket has no Object Lock" in proc.stdout

    locked = f"locked-{uuid.uuid4().hex[:8]}"
    _locked_policy(env, source, locked, lock_mode="GOVERNANCE")
    env.drkit("repo", "init", "vault", check=0)
    before = _controls(env.drkit("repo", "audit", "vault", "--json", check=0))
    assert before["object_retention"]["status"] == "UNKNOWN"  # nothing backed up yet
    env.drkit("backup", "vault", check=0)
    proc = env.drkit("repo", "audit", "vault", "--json", check=0)
    controls = _controls(proc)
    assert {n: c["status"] for n, c in controls.items() if c["required"]} == {
        "versioning": "OK", "object_lock": "OK", "object_retention": "OK", "lifecycle": "OK"}
    assert "locked GOVERNANCE" in controls["object_retention"]["detail"]
    assert json.loads(proc.stdout)["verdict"] == "OK"


def test_audit_flags_unlocked_objects_and_an_expiring_lifecycle_rule(tmp_path, moto_server, source):
    bucket = f"rules-{uuid.uuid4().hex[:8]}"
    env = make_env(tmp_path, moto_server, bucket)
    _locked_policy(env, source, bucket)
    env.drkit("repo", "init", "vault", check=0)
    env.drkit("backup", "vault", check=0)
    # a second backup written by plain restic: its objects never get retention
    (source / "later.txt").write_text("written after the drkit backup\n")
    env.restic("vault", "backup", str(source))
    moto_server.client().put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "tidy", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 7}}]})
    proc = env.drkit("repo", "audit", "vault", check=3)
    assert "lacks required control(s): object_retention, lifecycle" in proc.stderr
    assert "lack COMPLIANCE for 3 days" in proc.stdout and "rule 'tidy' expires current objects" in proc.stdout


def test_audit_on_seaweedfs_says_unsupported_for_public_access_block(env, source, seaweedfs):
    bucket = f"{env.bucket}-ol"
    _locked_policy(env, source, bucket)
    env.drkit("repo", "init", "vault", check=0)
    env.drkit("backup", "vault", check=0)
    controls = _controls(env.drkit("repo", "audit", "vault", "--json", check=0))
    assert controls["public_access_block"]["status"] == "UNSUPPORTED"
    assert not controls["public_access_block"]["required"]
    assert controls["object_retention"]["status"] == "OK"


def test_audit_of_a_missing_bucket_exits_1(tmp_path, moto_server, source):
    env = make_env(tmp_path, moto_server, f"gone-{uuid.uuid4().hex[:8]}")
    _locked_policy(env, source, env.bucket)
    proc = env.drkit("repo", "audit", "vault", check=1)
    assert "NoSuchBucket" in proc.stderr and proc.stdout == ""
