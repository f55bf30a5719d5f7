"""`drkit repo init`: bucket + restic repository, idempotent, with the bucket's protection state."""

from __future__ import annotations

from dataclasses import dataclass, field

from drkit.core import errors
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
    repository: str = "primary"     # the policy's repository this result is about
    copy_of: str | None = None      # a copy repository: initialized from this one's chunker parameters
    copies: list["InitResult"] = field(default_factory=list)  # the policy's other repositories, initialized too
    # a copy repository that could not be initialized: the others' results still print, then this fails the command
    failed: list[tuple[str, errors.DrkitError]] = field(default_factory=list, repr=False)

    @property
    def object_lock_missing(self) -> bool:
        return self.require_object_lock and not self.object_lock

    @property
    def object_lock_missing_in(self) -> list["InitResult"]:
        return [r for r in (self, *self.copies) if r.object_lock_missing]

    def json_fields(self) -> dict:
        fields = {k: v for k, v in self.__dict__.items() if k != "failed"}
        return fields | {"object_lock_missing": self.object_lock_missing, "copies": [c.json_fields() for c in self.copies],
                         "failed": [{"repository": name, "error": str(exc)} for name, exc in self.failed]}

    def lines(self) -> list[str]:
        lines = [f"{self.repository}:"] if self.copies or self.copy_of else []
        if self.bucket:
            lines.append(f"bucket {self.bucket}: " + ("created" if self.bucket_created else "exists"))
        made = ("initialized" + (f" as a copy of {self.copy_of} (same chunker parameters)" if self.copy_of else "")
                if self.repo_created else "already initialized")
        lines.append(f"repository {self.url}: {made}")
        if self.bucket:
            lock = "enabled" if self.object_lock else "not enabled"
            lines.append(f"versioning: {self.versioning}; Object Lock: {lock}"
                         + (f" (default retention {self.default_retention})" if self.default_retention else ""))
        return lines + self.notes + [line for copy in self.copies for line in copy.lines()]


def init_repository(ws: Workspace, policy: Policy, repository: str | None = None) -> InitResult:
    """The named repository, or every repository of the policy (the first, then its copies).

    The first repository is initialized on its own; every other one with the first's chunker
    parameters (`restic init --copy-chunker-params`), so copied snapshots deduplicate like the
    source's (docs/repositories.md, "Copies")."""
    if repository is not None:
        return _init_one(ws, policy, policy.repository_named(repository).name)
    result = _init_one(ws, policy, policy.repository.name)
    for repo in policy.repositories[1:]:
        try:
            result.copies.append(_init_one(ws, policy, repo.name))
        except errors.DrkitError as exc:  # the next copy still gets its chance; the command fails at the end
            result.failed.append((repo.name, exc))
    return result


def _init_one(ws: Workspace, policy: Policy, name: str) -> InitResult:
    repo = policy.repository_named(name)
    s3 = ws.s3(policy, name)
    first = policy.repository.name
    result = InitResult(policy.name, repo.url, s3.location.bucket if s3 else None,
                        require_object_lock=repo.require_object_lock, repository=name,
                        copy_of=first if name != first else None)
    if s3 is not None:
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
                                f"set {policy.repository_field('lock_days', name)} (docs/immutability.md)")
        if state.default_retention and s3.location.is_aws:
            result.notes.append("warning: a default retention rule makes AWS reject restic 0.14 uploads "
                                f"(no Content-MD5); use {policy.repository_field('lock_days', name)} instead")
    restic = ws.restic(policy, name, source=result.copy_of)
    restic.version()
    result.repo_created = restic.init(copy_chunker_params=result.copy_of is not None)
    return result
