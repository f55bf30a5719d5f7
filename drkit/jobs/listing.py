"""The catalog's snapshot listing brought up to date by difference (docs/performance.md).

A full `restic snapshots` costs a key derivation (~0.5 s) plus reading and decrypting every
snapshot file. The repository's snapshot names (drkit/engines/restic/layout.py: one S3 LIST per
1,000 snapshots) say which snapshots exist; only those the catalog does not know yet (manual
`restic backup`s, other hosts') are read, with one `restic snapshots ID...`, and forgotten ones
are dropped. The result is what a full listing would store. Backups (their own snapshot comes
from restic's summary) and drills choosing `latest`/`random`/`before:` use it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from drkit.core.policy import Policy
from drkit.engines.catalog import Catalog, SnapshotRow
from drkit.engines.restic import Restic, Snapshot, layout
from drkit.engines.workspace import Workspace

READ_BY_ID = 200  # more unknown snapshots than this (a new catalog): one full `restic snapshots` instead
# A backup compares every snapshot name at most this often; in between it looks up only its own
# snapshot (one request). A manual snapshot is picked up by the next comparison: until then the
# exposure shown is larger, never smaller, than the truth (docs/performance.md).
COMPARE_EVERY = timedelta(hours=6)


def repository_ids(ws: Workspace, policy: Policy, starting: str = "") -> set[str]:
    """The snapshot ids in the policy's (first) repository (those `starting` with a prefix), from
    its layout, without restic."""
    s3 = ws.s3(policy)
    return layout.snapshot_ids(policy.repository, s3.list_keys if s3 else None, s3.location.prefix if s3 else "",
                               starting)


def compared_lately(catalog: Catalog, policy: Policy, now: datetime) -> bool:
    """Whether the catalog's listing was compared with the repository less than COMPARE_EVERY ago."""
    listed_at = catalog.listed_at(policy.name)
    return listed_at is not None and timedelta(0) <= now - listed_at < COMPARE_EVERY


def refresh_by_difference(catalog: Catalog, policy: Policy, restic: Restic, ids: set[str],
                          made: Snapshot | None = None) -> None:
    """Make the catalog's listing of `policy` equal the repository's `ids`; `made` is a snapshot
    whose facts the caller already has (a backup's own)."""
    known = catalog.snapshot_ids(policy.name)
    unknown = sorted(ids - known - ({made.id} if made else set()))
    if len(unknown) > READ_BY_ID:
        catalog.replace_snapshots(policy.name, [row_of(policy, s) for s in restic.snapshots()])
        return
    others = restic.snapshots(ids=unknown) if unknown else []
    catalog.update_snapshots(policy.name, [row_of(policy, s) for s in ([made] if made else []) + others], known - ids)


def row_of(policy: Policy, snapshot: Snapshot) -> SnapshotRow:
    return SnapshotRow(policy.name, snapshot.id, snapshot.time, snapshot.hostname, snapshot.tags)
