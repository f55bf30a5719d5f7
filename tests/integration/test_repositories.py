"""Repositories of a policy end to end (docs/repositories.md): both spellings back up and drill
with real restic against a real SeaweedFS, through the real CLI; backups go to the first, copies
(tests/integration/test_copies.py) fill the others."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def repository(env, name: str | None = None, bucket: str | None = None) -> dict:
    section = {"url": f"s3:{env.endpoint}/{bucket or env.bucket}/shop", "password_file": str(env.password_file)}
    return section if name is None else {"name": name, **section}


def evidence_keys(seaweedfs, bucket: str) -> list[str]:
    listing = seaweedfs.client().list_objects_v2(Bucket=bucket, Prefix="drkit-evidence/shop/")
    return [o["Key"] for o in listing.get("Contents", [])]


@pytest.mark.parametrize("form", ["repository", "repositories"])
def test_either_spelling_backs_up_and_drills(env, source, seaweedfs, form):
    if form == "repository":
        name = "primary"  # the default name of the one repository
        env.write_policy("shop", [source], repository=repository(env))
    else:
        name = "main"
        env.write_policy("shop", [source], repository=None, repositories=[repository(env, name)])
    assert env.drkit("policy", "validate", check=0).returncode == 0
    env.drkit("repo", "init", "shop", check=0)

    [backup] = json.loads(env.drkit("backup", "shop", "--json", check=0).stdout)["runs"]
    assert backup["record"]["result"] == "pass" and backup["record"]["repository"] == name
    drill = json.loads(env.drkit("restore-drill", "shop", "--json", check=0).stdout)["record"]
    assert drill["result"] == "pass" and drill["repository"] == name
    assert drill["snapshot_id"] == backup["record"]["snapshot_id"]

    assert env.drkit("evidence", "verify", check=0).stdout.strip() == "2 records, 1 policy: signatures ok, chains intact"
    keys = evidence_keys(seaweedfs, env.bucket)
    assert sum("-backup-" in k for k in keys) == 1 and sum("-drill-" in k for k in keys) == 1


def test_backups_go_to_the_first_of_several_repositories(env, source, seaweedfs):
    second = f"{env.bucket}-2"
    seaweedfs.client().create_bucket(Bucket=second)
    env.write_policy("shop", [source], repository=None,
                     repositories=[repository(env, "offsite-1"), repository(env, "offsite-2", second)])
    env.drkit("repo", "init", "shop", check=0)
    [backup] = json.loads(env.drkit("backup", "shop", "--json", check=0).stdout)["runs"]

    assert backup["record"]["repository"] == "offsite-1"
    snapshots = json.loads(env.restic("shop", "snapshots", "--json").stdout)  # the first repository's
    assert [s["id"] for s in snapshots] == [backup["record"]["snapshot_id"]]
    assert len(evidence_keys(seaweedfs, env.bucket)) == 1
    # The second repository exists (repo init made it a copy repository) but holds no snapshot
    # until `drkit copy`; its bucket holds the evidence too (every bucket gets every record).
    copy_snapshots = json.loads(env.drkit("snapshots", "shop", "--repository", "offsite-2", "--json", check=0).stdout)
    assert copy_snapshots["repository"] == "offsite-2" and copy_snapshots["snapshots"] == []
    assert evidence_keys(seaweedfs, second) == evidence_keys(seaweedfs, env.bucket)
