"""`drkit repo init`: bucket + restic repository, idempotent, with the bucket's protection state."""

from __future__ import annotations

from dataclasses import dataclass, field

from drkit.core.jsonshape import JsonDocument
from drkit.core.policy import Policy
from drkit.engines.workspace import Workspace


@dataclass
class InitResult(JsonDocument, schema="drkit.repo-init/1"):
    policy: str
    url: str
    bucket: str | None
    bucket_created: bool = False
    repo_created: bool = False
    versioning: str | None = None
    object_lock: bool | None = None
    default_retention: str | None = None
    require_object_lock: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def object_lock_missing(self) -> bool:
        return self.require_object_lock and not self.object_lock

    def json_fields(self) -> dict:
        return dict(self.__dict__) | {"object_lock_missing": self.object_lock_missing}

    def lines(self) -> list[str]:
        lines = []
        if self.bucket:
            lines.append(f"bucket {self.bucket}: " + ("created" if self.bucket_created else "exists"))
        lines.append(f"repository {self.url}: " + ("initialized" if self.repo_created else "already initialized"))
        if self.bucket:
            lock = "enabled" if self.object_lock else "not enabled"
            lines.append(f"versioning: {self.versioning}; Object Lock: {lock}"
                         + (f" (default retention {self.default_retention})" if self.default_retention else ""))
        return lines + self.notes


def init_repository(ws: Workspace, policy: Policy) -> InitResult:
    s3 = ws.s3(policy)
    result = InitResult(policy.name, policy.repository.url, s3.location.bucket if s3 else None,
                        require_object_lock=policy.repository.require_object_lock)
    if s3 is not None:
        repo = policy.repository
        wants_lock = bool(repo.require_object_lock or repo.lock_days)
        if not s3.bucket_exists():
            # Object Lock without a default retention rule: restic 0.14 cannot upload under one on AWS
            # (no Content-MD5); backups set lock_mode/lock_days per object instead (docs/immutability.md).
            s3.create_bucket(object_lock=wants_lock)
            result.bucket_created = True
            if wants_lock and s3.state().versioning != "Enabled":
                s3.enable_versioning()
        state = s3.state()
        result.versioning, result.object_lock, result.default_retention = (state.versioning, state.object_lock,
                                                                           state.default_retention)
        if state.object_lock and repo.lock_days:
            result.notes.append(f"retention: each backup's objects get {repo.lock_mode} {repo.lock_days} days "
                                "(no default rule: restic 0.14 cannot upload under one on AWS; "
                                "docs/immutability.md)")
        if state.object_lock and not state.default_retention and not repo.lock_days:
            result.notes.append("warning: Object Lock is enabled but nothing sets retention; "
                                "set repository.lock_days (docs/immutability.md)")
        if state.default_retention and s3.location.is_aws:
            result.notes.append("warning: a default retention rule makes AWS reject restic 0.14 uploads "
                                "(no Content-MD5); use repository.lock_days instead")
    restic = ws.restic(policy)
    restic.version()
    result.repo_created = restic.init()
    return result
