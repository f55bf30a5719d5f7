"""Is the manifest inside a snapshot the one its signed backup evidence vouches for?

A drill and a restore verify restored files against the sha256 manifest stored in the snapshot
(docs/drill.md, "Verification"). The manifest itself is authenticated first: its sha256 must equal
`manifest_sha256` of the backup's signed evidence record when the catalog holds that record, and a
record signed by this host's key must still verify (the catalog is only a file). Without the
record (plain restic, another host's catalog) the manifest is used unauthenticated, and says so.
"""

from __future__ import annotations

import hashlib

from drkit.engines.catalog import Catalog
from drkit.engines.manifest import Manifest
from drkit.evidence.payloads import BackupMeasured, measured_of
from drkit.evidence.records import Record, SigningKey, signature_problem
from drkit.jobs.drill.verdict import DrillFailed
from drkit.jobs.drill.verification import manifest_problem


def backup_evidence(catalog: Catalog, key: SigningKey, policy: str, snapshot_id: str) -> Record | None:
    """The backup record of a snapshot, when the catalog has one; DrillFailed when this host signed
    it and the signature no longer holds."""
    record = catalog.backup_record(policy, snapshot_id)
    if record is not None and record.key_id == key.key_id:
        problem = signature_problem(record, {key.key_id: key.private.public_key()})
        if problem:
            raise DrillFailed(f"backup evidence of snapshot {record.snapshot_id[:8]} does not verify: {problem}")
    return record


def known_manifest_path(backup: Record | None) -> str | None:
    """Where the backup evidence says the manifest sits in the snapshot."""
    return measured_of(backup, BackupMeasured).manifest if backup is not None else None


def check_manifest(data: bytes, path: str, backup: Record | None, measured: dict) -> Manifest:
    """Parse the manifest bytes taken from the snapshot after comparing them with the evidence.

    `measured` (the run's evidence payload) gets `manifest`, `manifest_sha256` and
    `manifest_authenticated` first, so a mismatch is recorded with the digest that was found."""
    digest = hashlib.sha256(data).hexdigest()
    expected = measured_of(backup, BackupMeasured).manifest_sha256 if backup is not None else None
    measured.update(manifest=path, manifest_sha256=digest, manifest_authenticated=expected is not None)
    problem = manifest_problem(digest, expected)
    if problem:
        raise DrillFailed(problem)
    try:
        return Manifest.from_json(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise DrillFailed(f"manifest {path} is unreadable ({exc})") from None
