"""`drkit iam-policy`: least-privilege AWS IAM policy documents for the credentials each drkit role
runs with, scoped to a repository's bucket and prefix (docs/immutability.md, "IAM roles").

Pure: built from the policy's repositories alone, so it is unit-tested and linted (parliament)
without a server. Object actions are granted on object ARNs and bucket actions on the bucket ARN,
never `*`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from drkit.core import errors
from drkit.core.jsonshape import JsonDocument
from drkit.core.policy import Policy, Repository
from drkit.engines.s3 import EVIDENCE_PREFIX, S3Location, parse_location

Role = Literal["backup", "drill", "audit", "copy"]
ROLES: tuple[str, ...] = ("backup", "drill", "audit", "copy")

# What the bucket-level reads are for: restic opens the bucket (HEAD = ListBucket), drkit reads its
# location and protection state (repo init, doctor, repo audit).
READ_BUCKET = ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketVersioning",
               "s3:GetBucketObjectLockConfiguration"]
AUDIT_BUCKET = [*READ_BUCKET, "s3:GetBucketPublicAccessBlock", "s3:GetEncryptionConfiguration",
                "s3:GetLifecycleConfiguration"]
# Never granted, and denied outright so a broader policy attached beside this one cannot grant them:
# these are how stolen credentials destroy locked or versioned backups.
DENIED_OBJECT = ["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutObjectLegalHold"]
DENIED_BUCKET = ["s3:DeleteBucket", "s3:PutBucketVersioning", "s3:PutBucketObjectLockConfiguration",
                 "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"]


@dataclass(frozen=True)
class Scope:
    """One repository's bucket, its key prefix and the evidence directory beside it."""

    repository: str
    location: S3Location

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.location.bucket}"

    def objects(self, *subpaths: str) -> list[str]:
        base = self.location.prefix.rstrip("/")
        root = f"{self.bucket_arn}/{base}/" if base else f"{self.bucket_arn}/"
        return [f"{root}{sub}" for sub in subpaths]

    def evidence(self, policy: str) -> tuple[str, list[str]]:
        """(all evidence, what this policy's runs write: its records and the signing keys)."""
        parent = self.location.prefix.rstrip("/").rsplit("/", 1)[0] + "/" if "/" in self.location.prefix else ""
        root = f"{self.bucket_arn}/{parent}{EVIDENCE_PREFIX}/"
        return f"{root}*", [f"{root}{policy}/*", f"{root}keys/*"]


def _statement(sid: str, actions: list[str], resources: list[str], effect: str = "Allow") -> dict[str, Any]:
    return {"Sid": sid, "Effect": effect, "Action": sorted(actions), "Resource": resources}


def _reader(scope: Scope, tag: str, policy: str, *, bucket_actions: list[str], object_actions: list[str]) -> list[dict]:
    everything, _ = scope.evidence(policy)
    return [_statement(f"{tag}ListBucket", bucket_actions, [scope.bucket_arn]),
            _statement(f"{tag}ReadRepository", object_actions, [*scope.objects("*"), everything])]


def _lock_files(scope: Scope, tag: str) -> dict:
    """restic 0.14 takes a lock for backup, restore, check, copy (source and destination): it writes
    `locks/<id>`, rewrites it every 5 minutes and deletes it at the end; `restic unlock` deletes stale
    ones. Without delete there, every later run would wait on a lock nobody can remove."""
    return _statement(f"{tag}ResticLockFiles", ["s3:PutObject", "s3:DeleteObject"], scope.objects("locks/*"))


def _evidence_writer(scope: Scope, tag: str, policy: str) -> dict:
    _, own = scope.evidence(policy)
    return _statement(f"{tag}WriteEvidence", ["s3:PutObject"], own)


def _writer(scope: Scope, tag: str, policy: str) -> list[dict]:
    """Write new repository objects and set their retention (drkit does it after each backup;
    in COMPLIANCE mode a retention can only be extended, in GOVERNANCE shortening it needs
    s3:BypassGovernanceRetention, which is denied)."""
    return [*_reader(scope, tag, policy, bucket_actions=READ_BUCKET, object_actions=["s3:GetObject"]),
            _statement(f"{tag}WriteRepository", ["s3:PutObject", "s3:PutObjectRetention"], scope.objects("*")),
            _lock_files(scope, tag), _evidence_writer(scope, tag, policy)]


def _denials(scopes: list[Scope]) -> list[dict]:
    buckets = sorted({s.bucket_arn for s in scopes})
    return [_statement("DenyDestroyingVersions", DENIED_OBJECT, [f"{b}/*" for b in buckets], effect="Deny"),
            _statement("DenyWeakeningTheBucket", DENIED_BUCKET, buckets, effect="Deny")]


def _scope(repo: Repository) -> Scope:
    location = parse_location(repo)
    if location is None:
        raise errors.UsageError(f"repository '{repo.name}' ({repo.url}) is not on S3: an IAM policy applies to "
                                "s3: repositories only")
    return Scope(repo.name, location)


@dataclass
class IamPolicy(JsonDocument, schema="drkit.iam-policy/1"):
    policy: str
    role: str
    repositories: list[str]
    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def json_fields(self) -> dict[str, Any]:
        return {"policy": self.policy, "role": self.role, "repositories": self.repositories,
                "document": self.document, "notes": self.notes}


def build(policy: Policy, role: str, repository: str | None = None) -> IamPolicy:
    """The IAM policy document for `role` on `repository` (default: the first; for `copy`, the
    copy it writes, default the second, read from the first)."""
    if role == "copy":
        return _copy(policy, repository)
    scope = _scope(policy.repository_named(repository))
    tag = ""
    if role == "backup":
        statements = _writer(scope, tag, policy.name)
        notes = ["backup cannot delete repository objects: run `forget --prune` with other credentials"]
    elif role == "drill":
        statements = [*_reader(scope, tag, policy.name, bucket_actions=READ_BUCKET, object_actions=["s3:GetObject"]),
                      _lock_files(scope, tag), _evidence_writer(scope, tag, policy.name)]
        notes = ["drill writes only restic's lock files and its own evidence records"]
    elif role == "audit":
        statements = _reader(scope, tag, policy.name, bucket_actions=AUDIT_BUCKET,
                             object_actions=["s3:GetObject", "s3:GetObjectRetention"])
        notes = ["audit writes nothing"]
    else:
        raise errors.UsageError(f"--role: '{role}' is not one of {', '.join(ROLES)}")
    others = _other_buckets(policy, [scope]) if role != "audit" else []
    if others:
        statements += [_evidence_writer(other, f"Evidence{n}", policy.name) for n, other in enumerate(others, 1)]
        notes.append("every run also writes its evidence record into each other repository's bucket "
                     "(docs/repositories.md): only there, under drkit-evidence/")
    document = {"Version": "2012-10-17", "Statement": [*statements, *_denials([scope, *others])]}
    return IamPolicy(policy.name, role, [scope.repository], document, notes)


def _other_buckets(policy: Policy, used: list[Scope]) -> list[Scope]:
    """The policy's other S3 repositories: a run uploads its evidence record to every bucket, so
    any one bucket alone rebuilds the catalog (docs/repositories.md)."""
    taken = {s.repository for s in used}
    return [_scope(repo) for repo in policy.repositories
            if repo.name not in taken and repo.url.startswith("s3:")]


def _copy(policy: Policy, repository: str | None) -> IamPolicy:
    if len(policy.repositories) < 2:
        raise errors.UsageError(f"{policy.name}: --role copy needs a second repository to copy to "
                                "(list it under `repositories:`, docs/repositories.md)")
    source = _scope(policy.repositories[0])
    target = _scope(policy.repository_named(repository) if repository else policy.repositories[1])
    if target.repository == source.repository:
        raise errors.UsageError(f"--repository: '{target.repository}' is the source of the copy; name a copy")
    statements = [*_reader(source, "Source", policy.name, bucket_actions=READ_BUCKET, object_actions=["s3:GetObject"]),
                  _lock_files(source, "Source"), _evidence_writer(source, "Source", policy.name),
                  *_writer(target, "Copy", policy.name)]
    others = _other_buckets(policy, [source, target])
    statements += [_evidence_writer(other, f"Evidence{n}", policy.name) for n, other in enumerate(others, 1)]
    document = {"Version": "2012-10-17", "Statement": [*statements, *_denials([source, target, *others])]}
    notes = [f"reads '{source.repository}', writes '{target.repository}'"]
    if source.location.endpoint != target.location.endpoint:
        notes.append("the two buckets are on different endpoints: give each provider its half of this policy")
    return IamPolicy(policy.name, "copy", [source.repository, target.repository], document, notes)
