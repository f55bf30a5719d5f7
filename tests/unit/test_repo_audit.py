"""`repo audit`'s rules on plain readings (what engines/s3.py hands back): each control's verdict
and whether it breaches the policy (docs/immutability.md)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from drkit.engines.s3 import ObjectRetention, Unsupported
from drkit.views.immutability import JUDGES, NewestSnapshot, Requirements, judge, judge_retention

LOCKED = Requirements(object_lock=True, lock_days=30, lock_mode="COMPLIANCE", prefix="shop/db", is_aws=False)
PLAIN = Requirements(object_lock=False, lock_days=None, lock_mode="COMPLIANCE", prefix="shop/db", is_aws=False)
T = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
GOOD = {"versioning": {"Status": "Enabled"},
        "object_lock": {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}},
        "public_access_block": {"PublicAccessBlockConfiguration": dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)},
        "encryption": {"ServerSideEncryptionConfiguration": {"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}},
        "lifecycle": None}


def snapshot(*retentions: tuple[str | None, int | None]) -> NewestSnapshot:
    return NewestSnapshot("shop/db/snapshots/ab", T, [
        ObjectRetention(f"shop/db/data/{i}", mode, T + timedelta(days=days) if days is not None else None)
        for i, (mode, days) in enumerate(retentions)])


def test_a_fully_protected_bucket_passes():
    controls = judge(GOOD, snapshot(("COMPLIANCE", 30), ("COMPLIANCE", 31)), LOCKED)
    assert [c.name for c in controls] == ["versioning", "object_lock", "object_retention", "public_access_block",
                                          "encryption", "lifecycle"]
    assert all(c.status == "OK" for c in controls) and not any(c.breached for c in controls)


def test_no_object_lock_breaches_only_when_the_policy_asks_for_it():
    readings = GOOD | {"object_lock": None, "versioning": {}}
    assert {c.name for c in judge(readings, None, LOCKED) if c.breached} == {"versioning", "object_lock"}
    assert not any(c.breached for c in judge(readings, None, PLAIN))


def test_object_lock_without_anything_setting_retention_is_missing():
    control = JUDGES["object_lock"](GOOD["object_lock"], Requirements(True, None, "COMPLIANCE", "p", False))
    assert control.status == "MISSING" and "nothing sets retention" in control.detail
    with_rule = {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled",
                                             "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 7}}}}
    aws = JUDGES["object_lock"](with_rule, Requirements(True, None, "COMPLIANCE", "p", True))
    assert aws.status == "OK" and "GOVERNANCE 7 days" in aws.detail and "AWS rejects restic 0.14" in aws.detail


@pytest.mark.parametrize("retention, why", [
    ((None, None), "no retention"),
    (("GOVERNANCE", 30), "GOVERNANCE"),
    (("COMPLIANCE", 2), "COMPLIANCE until 2026-11-03"),
])
def test_an_object_without_the_policys_retention_is_missing(retention, why):
    control = judge_retention(snapshot(("COMPLIANCE", 30), retention), LOCKED)
    assert control.status == "MISSING" and control.breached
    assert control.detail.startswith("1 of 2 objects") and why in control.detail


def test_retention_with_no_snapshot_yet_is_unknown_not_ok():
    control = judge_retention(None, LOCKED)
    assert control.status == "UNKNOWN" and not control.breached


def test_an_unimplemented_api_is_unsupported_and_breaches_only_when_required():
    pab = JUDGES["public_access_block"](Unsupported("NotImplemented"), LOCKED)
    assert pab.status == "UNSUPPORTED" and not pab.breached
    versioning = JUDGES["versioning"](Unsupported("NotImplemented"), LOCKED)
    assert versioning.status == "UNSUPPORTED" and versioning.breached


@pytest.mark.parametrize("rule, problem", [
    ({"Filter": {"Prefix": ""}, "Expiration": {"Days": 90}}, "expires current objects after 90 days"),
    ({"Filter": {"Prefix": "shop/"}, "NoncurrentVersionExpiration": {"NoncurrentDays": 7}}, "before the 30-day"),
    ({"Filter": {"And": {"Prefix": "shop/db/data/"}}, "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]},
     "moves objects to GLACIER"),
    ({"Prefix": "shop/db", "Expiration": {"Date": "2027-01-01"}}, "on 2027-01-01"),
])
def test_lifecycle_rules_that_expire_repository_data_are_missing(rule, problem):
    control = JUDGES["lifecycle"]({"Rules": [rule | {"ID": "r", "Status": "Enabled"}]}, LOCKED)
    assert control.status == "MISSING" and control.breached and problem in control.detail


@pytest.mark.parametrize("rule", [
    {"Filter": {"Prefix": "other/"}, "Expiration": {"Days": 1}},  # another prefix
    {"Filter": {"Prefix": ""}, "Status": "Disabled", "Expiration": {"Days": 1}},
    {"Filter": {"Prefix": ""}, "NoncurrentVersionExpiration": {"NoncurrentDays": 60}},  # after the retention
    {"Filter": {"Prefix": ""}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
    {"Filter": {"Prefix": "shop/dbx/"}, "Expiration": {"Days": 1}},  # a sibling, not the repository
])
def test_harmless_lifecycle_rules_pass(rule):
    control = JUDGES["lifecycle"]({"Rules": [{"ID": "r", "Status": "Enabled"} | rule]}, LOCKED)
    assert control.status == "OK", control.detail


def test_missing_public_access_settings_are_named():
    reading = {"PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "IgnorePublicAcls": True}}
    control = JUDGES["public_access_block"](reading, LOCKED)
    assert control.status == "MISSING" and control.detail == "not set: BlockPublicPolicy, RestrictPublicBuckets"


def test_a_large_backup_is_sampled_and_says_so(monkeypatch):
    from drkit.views import immutability

    monkeypatch.setattr(immutability, "MAX_HEADS", 10)
    written = [immutability.StoredObject(f"p/data/{i:02d}", T) for i in range(40)] + \
              [immutability.StoredObject("p/index/a", T), immutability.StoredObject("p/snapshots/b", T)]
    sample = immutability._sample(written, "p/")
    assert len(sample) <= 12 and {"p/index/a", "p/snapshots/b", "p/data/00", "p/data/35"} <= {o.key for o in sample}
    newest = NewestSnapshot("p/snapshots/b", T, [ObjectRetention(o.key, "COMPLIANCE", T + timedelta(days=30))
                                                  for o in sample], total=len(written))
    assert f"of {len(written)} objects" in judge_retention(newest, LOCKED).detail


def test_a_copy_run_that_wrote_several_snapshots_in_one_second_is_checked_whole():
    """`drkit copy` writes all its snapshot files at once (S3 times: 1 s): the newest one's run
    starts after the last snapshot file older than it, not at their shared second (which left
    nothing to check, and an OK for zero objects)."""
    from drkit.views.immutability import StoredObject, last_run_writes

    earlier = T - timedelta(hours=1)
    snapshots = [StoredObject("p/snapshots/old", earlier), StoredObject("p/snapshots/a", T),
                 StoredObject("p/snapshots/b", T)]
    objects = [*snapshots, StoredObject("p/data/old", earlier), StoredObject("p/data/x", T),
               StoredObject("p/index/y", T), StoredObject("p/keys/k", T), StoredObject("p/config", earlier)]
    newest, written = last_run_writes(snapshots, objects, "p/")
    assert newest.modified == T
    assert {o.key for o in written} == {"p/snapshots/a", "p/snapshots/b", "p/data/x", "p/index/y"}


def test_nothing_checked_is_never_an_ok():
    control = judge_retention(NewestSnapshot("shop/db/snapshots/ab", T, []), LOCKED)
    assert control.status == "UNKNOWN" and "no object of the newest snapshot" in control.detail
