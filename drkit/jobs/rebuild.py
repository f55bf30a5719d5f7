"""Rebuild local state from offsite copies: snapshot listings from the repositories, evidence
records and public keys from the buckets (`drkit catalog rebuild`, `drkit report --refresh`;
`drkit snapshots` refreshes the listing of one policy).

The offsite copy alone must reproduce every report (docs/evidence.md), so a new host with an
empty state directory runs this and gets the same figures as the host that made the backups.
Records are imported even when their signature does not hold: the report shows each record's
signature status and leaves unverified drills out of the figures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pydantic import ValidationError

from drkit.core import errors
from drkit.core.display import count_of
from drkit.core.jsonshape import JsonDocument
from drkit.core.policy import Policy
from drkit.engines.catalog import CopyRow, EscrowRow, SnapshotRow
from drkit.engines.restic import Snapshot
from drkit.engines.s3 import S3
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record, digest_in_name, load_public_key, now_utc, signature_problem, utc_text

log = logging.getLogger("drkit")



@dataclass(frozen=True)
class SnapshotListing(JsonDocument, schema="drkit.snapshots/1"):
    """A policy's snapshots as its repository lists them (manual restic ones included)."""

    policy: str
    snapshots: list[Snapshot]
    repository: str = "primary"
    guard: dict[str, str] = field(default_factory=dict)  # backup snapshot id -> suspicious | accepted (docs/guard.md)

    def guard_of(self, snapshot: Snapshot) -> str | None:
        """The guardrail's word on a snapshot (a copy's through the backup it came from)."""
        return self.guard.get(snapshot.original_id)

    def json_fields(self) -> dict:
        return {"policy": self.policy, "repository": self.repository,
                "snapshots": [{"id": s.id, "short_id": s.short_id, "time": utc_text(s.time), "hostname": s.hostname,
                               "paths": s.paths, "tags": s.tags, "original": s.original, "guard": self.guard_of(s)}
                              for s in self.snapshots]}


def list_snapshots(ws: Workspace, policy: Policy, repository: str | None = None) -> SnapshotListing:
    """Ask the repository (None: the first), and keep the listing in the catalog: the first's in
    `snapshots` (reports count snapshots from it), a copy's in `copy_snapshots`, with the id of the
    backup each copied snapshot came from (docs/repositories.md)."""
    repo = policy.repository_named(repository)
    snapshots = ws.restic(policy, repo.name).snapshots()
    if repo.name == policy.repository.name:
        ws.catalog.replace_snapshots(policy.name, [SnapshotRow(policy.name, s.id, s.time, s.hostname, s.tags)
                                                   for s in snapshots])
    else:
        ws.catalog.replace_copies(policy.name, repo.name, [CopyRow(policy.name, repo.name, s.id, s.original_id, s.time)
                                                           for s in snapshots])
    guard = {m.snapshot_id: "accepted" if m.accepted else "suspicious" for m in ws.catalog.suspicious_marks(policy.name)}
    return SnapshotListing(policy.name, snapshots, repo.name, guard)


@dataclass
class RefreshResult:
    policy: str
    snapshots: int = 0
    objects: int = 0  # evidence objects in the bucket
    added: int = 0  # records new to the catalog
    keys: int = 0
    problems: list[str] = field(default_factory=list)  # unreadable objects, failed signatures
    error: errors.DrkitError | None = None  # the refresh could not complete

    def line(self) -> str:
        if self.error is not None:
            return f"FAILED {self.policy}: {self.error}"
        word = "OK" if not self.problems else "PROBLEMS"
        return (f"{word} {self.policy}: {count_of(self.snapshots, 'snapshot')}, {count_of(self.objects, 'evidence object')}, "
                f"{count_of(self.added, 'new record')}" + (f", {count_of(len(self.problems), 'problem')}" if self.problems else ""))

    def as_dict(self) -> dict:
        return {"policy": self.policy, "snapshots": self.snapshots, "evidence_objects": self.objects,
                "records_added": self.added, "keys": self.keys, "problems": self.problems,
                "error": str(self.error) if self.error else None}


@dataclass(frozen=True)
class CatalogRebuild(JsonDocument, schema="drkit.catalog-rebuild/1"):
    """`drkit catalog rebuild`: one refresh per policy."""

    policies: list[RefreshResult]

    @property
    def failed(self) -> list[RefreshResult]:
        return [r for r in self.policies if r.error is not None]

    @property
    def has_problems(self) -> bool:
        return any(r.problems for r in self.policies)

    def json_fields(self) -> dict:
        return {"policies": [r.as_dict() for r in self.policies]}


def refresh_policy(ws: Workspace, policy: Policy, repository: str | None = None) -> RefreshResult:
    """List the repository's snapshots and import new evidence of one policy from that repository's
    bucket (None: the first; every bucket holds every record); never raises for S3 or restic
    failures (they become `error`)."""
    result = RefreshResult(policy.name)
    try:
        name = policy.repository_named(repository).name
        result.snapshots = len(list_snapshots(ws, policy, name).snapshots)
        _import_evidence(ws, policy, name, result)
    except errors.DrkitError as exc:
        result.error = exc
    return result


def _import_evidence(ws: Workspace, policy: Policy, repository: str, result: RefreshResult) -> None:
    s3 = ws.s3(policy, repository)
    if s3 is None:
        return  # a local repository keeps no evidence copy
    catalog = ws.catalog
    keys = {}
    for key in s3.list_keys(s3.keys_prefix()):
        if not key.endswith(".pem"):
            continue
        pem = s3.get_bytes(key)
        try:
            key_id, public = load_public_key(pem)
        except ValueError:
            result.problems.append(f"{key}: not an Ed25519 public key")
            continue
        catalog.add_public_key(key_id, pem)
        keys[key_id] = public
        result.keys += 1
    _note_escrow(ws, policy, repository, s3)
    for key in s3.list_keys(s3.evidence_prefix(policy.name)):
        if not key.endswith(".json"):
            continue
        result.objects += 1
        named = digest_in_name(key)
        if named and catalog.has_digest_prefix(policy.name, named):
            continue  # already imported (names carry the digest; an edited copy would not match)
        problem = _import_record(ws, policy, repository, key, s3.get_bytes(key), keys, result)
        if problem:
            result.problems.append(f"{key}: {problem}")


def _note_escrow(ws: Workspace, policy: Policy, repository: str, s3: S3) -> None:
    """An escrowed password in the bucket (`drkit keys escrow`) counts for `status` on a new host too."""
    key = s3.escrow_key(policy.name, repository)
    if s3.object_exists(key):
        ws.catalog.note_escrow_seen(EscrowRow(policy.name, repository, key, (), now_utc()))


def _import_record(ws: Workspace, policy: Policy, repository: str, key: str, body: bytes, keys: dict,
                   result: RefreshResult) -> str | None:
    try:
        record = Record.model_validate_json(body)
    except ValidationError as exc:
        return f"not an evidence record ({count_of(exc.error_count(), 'problem')}, first: {exc.errors()[0]['msg']})"
    if record.policy != policy.name:
        return f"record of policy '{record.policy}' under the prefix of '{policy.name}': skipped"
    if ws.catalog.add_record(record, uploaded=(record.repository or policy.repository.name) == repository):
        result.added += 1
    ws.catalog.mark_uploaded_to([record.digest()], repository)
    return signature_problem(record, keys)


def rebuild(ws: Workspace, policies: list[Policy], repository: str | None = None) -> CatalogRebuild:
    """Every policy from its first repository, or from the repository `repository` names in each."""
    return CatalogRebuild([refresh_policy(ws, p, repository) for p in policies])
