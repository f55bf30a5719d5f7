"""`drkit iam-policy`: every generated document passes parliament's lint, and each role gets what
its job needs and nothing that destroys backups (docs/immutability.md)."""

from __future__ import annotations

import json

import pytest
from parliament import analyze_policy_string

from drkit.core.errors import UsageError
from drkit.core.policy import Policy
from drkit.views.iam_policy import ROLES, build

BASE = {"version": 1, "name": "shop", "description": "t",
        "business": {"function": "T", "owner": "QA <qa@example.com>", "tier": 2},
        "objectives": {"rpo": "24h", "rto": "4h"}, "targets": [{"path": "/srv"}]}
REPOS = [{"url": "s3:https://s3.eu-north-1.amazonaws.com/acme-dr/shop/db", "password_file": "/etc/p", "lock_days": 30},
         {"name": "offsite", "url": "s3:https://s3.eu-west-1.amazonaws.com/acme-copy/shop", "password_file": "/etc/p"},
         {"name": "root", "url": "s3:https://s3.amazonaws.com/flat-bucket", "password_file": "/etc/p"}]


def policy(repos=REPOS) -> Policy:
    return Policy.model_validate(BASE | {"repositories": repos})


def allowed(document: dict, action: str) -> set[str]:
    return {r for s in document["Statement"] if s["Effect"] == "Allow" and action in s["Action"] for r in s["Resource"]}


def denied(document: dict) -> set[str]:
    return {a for s in document["Statement"] if s["Effect"] == "Deny" for a in s["Action"]}


@pytest.mark.parametrize("repository", [None, "offsite", "root"])
@pytest.mark.parametrize("role", ROLES)
def test_every_generated_policy_lints_clean(role, repository):
    if role == "copy" and repository is None:
        repository = "offsite"
    doc = build(policy(), role, repository).document
    findings = analyze_policy_string(json.dumps(doc), include_community_auditors=True).findings
    assert findings == [], [(f.issue, f.detail, f.location) for f in findings]


def test_the_lint_does_find_a_broken_policy():
    broken = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::acme-dr"]}]}
    assert analyze_policy_string(json.dumps(broken)).findings  # an object action on a bucket ARN


def test_backup_writes_and_deletes_only_restic_lock_files():
    doc = build(policy(), "backup").document
    assert allowed(doc, "s3:PutObject") >= {"arn:aws:s3:::acme-dr/shop/db/*"}
    assert allowed(doc, "s3:DeleteObject") == {"arn:aws:s3:::acme-dr/shop/db/locks/*"}
    assert allowed(doc, "s3:PutObjectRetention") == {"arn:aws:s3:::acme-dr/shop/db/*"}
    elsewhere = allowed(doc, "s3:PutObject") - {"arn:aws:s3:::acme-dr/shop/db/*", "arn:aws:s3:::acme-dr/shop/db/locks/*"}
    assert {"arn:aws:s3:::acme-dr/shop/drkit-evidence/shop/*", "arn:aws:s3:::acme-dr/shop/drkit-evidence/keys/*"} <= elsewhere
    # in the other repositories' buckets only evidence: every run's record goes to every bucket
    assert {"arn:aws:s3:::acme-copy/drkit-evidence/shop/*", "arn:aws:s3:::flat-bucket/drkit-evidence/keys/*"} <= elsewhere
    assert all("/drkit-evidence/" in arn for arn in elsewhere), elsewhere
    assert {"s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutBucketVersioning",
            "s3:PutLifecycleConfiguration", "s3:PutBucketObjectLockConfiguration"} <= denied(doc)


@pytest.mark.parametrize("role", ["drill", "audit"])
def test_drill_and_audit_cannot_write_repository_data(role):
    doc = build(policy(), role).document
    writes = {a for s in doc["Statement"] if s["Effect"] == "Allow" for a in s["Action"]
              if not a.startswith(("s3:Get", "s3:List"))}
    touched = set().union(*(allowed(doc, a) for a in writes)) if writes else set()
    assert all(r.endswith(("/locks/*", "/drkit-evidence/shop/*", "/drkit-evidence/keys/*")) for r in touched), touched
    if role == "audit":
        assert writes == set()


def test_a_one_level_prefix_puts_evidence_at_the_bucket_root():
    doc = build(policy(), "backup", "offsite").document
    assert "arn:aws:s3:::acme-copy/drkit-evidence/shop/*" in allowed(doc, "s3:PutObject")
    flat = build(policy(), "drill", "root").document
    assert "arn:aws:s3:::flat-bucket/locks/*" in allowed(flat, "s3:DeleteObject")


def test_copy_reads_the_first_repository_and_writes_the_copy():
    result = build(policy(), "copy", "offsite")
    assert result.repositories == ["primary", "offsite"]
    puts = allowed(result.document, "s3:PutObject")
    assert "arn:aws:s3:::acme-copy/shop/*" in puts and "arn:aws:s3:::acme-dr/shop/db/*" not in puts
    assert "arn:aws:s3:::acme-dr/shop/db/*" in allowed(result.document, "s3:GetObject")
    assert "different endpoints" in " ".join(result.notes)


def test_copy_needs_a_second_repository_and_a_local_repository_has_no_iam_policy():
    with pytest.raises(UsageError, match="needs a second repository"):
        build(policy(REPOS[:1]), "copy")
    with pytest.raises(UsageError, match="is the source of the copy"):
        build(policy(), "copy", "primary")
    with pytest.raises(UsageError, match="not on S3"):
        build(policy([{"url": "/srv/restic", "password_file": "/etc/p"}]), "backup")
