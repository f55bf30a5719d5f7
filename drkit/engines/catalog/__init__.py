"""Local state in SQLite: evidence records, a cache of repository snapshot listings, the
file-hash cache used for manifests, and the public keys and verified signatures of evidence.
Everything here can be rebuilt from the repositories and the evidence in the buckets
(`drkit catalog rebuild`), except the hash cache, which is only a speed-up.

One class per group of tables (`evidence`, `snapshots`, `copy_snapshots`, `points`, `hashes`, `keys`, `escrows`), each with
its own DDL and queries; `Catalog` is all of them over one connection.
"""

from __future__ import annotations

from pathlib import Path

from drkit.engines.catalog.connection import connect
from drkit.engines.catalog.escrows import EscrowRow, KeyEscrows
from drkit.engines.catalog.evidence import EvidenceStore
from drkit.engines.catalog.guard import GuardMarks, SuspiciousMark
from drkit.engines.catalog.hashes import CachedHash, HashCache
from drkit.engines.catalog.keys import KeyCache
from drkit.engines.catalog.points import POINT_LOOKBACK_DAYS, PointRow, RecoveryPoints
from drkit.engines.catalog.snapshots import CopyListing, CopyRow, SnapshotListing, SnapshotRow
from drkit.engines.catalog.table import utcnow

__all__ = ["POINT_LOOKBACK_DAYS", "SCHEMA", "CachedHash", "Catalog", "CopyListing", "CopyRow", "EscrowRow", "EvidenceStore",
           "GuardMarks", "HashCache", "KeyCache", "KeyEscrows", "PointRow", "RecoveryPoints", "SnapshotListing", "SnapshotRow",
           "SuspiciousMark", "utcnow"]

_PARTS = (EvidenceStore, SnapshotListing, CopyListing, RecoveryPoints, HashCache, KeyCache, KeyEscrows)
SCHEMA = "".join(part.SCHEMA for part in _PARTS)


class Catalog(EvidenceStore, SnapshotListing, CopyListing, RecoveryPoints, GuardMarks, HashCache, KeyCache, KeyEscrows):
    """The state directory's catalog.sqlite: every table group over one WAL-mode connection."""

    def __init__(self, path: Path):
        self.path = path
        super().__init__(connect(path))
        self.db.execute("pragma journal_mode=wal")
        self.db.execute("pragma synchronous=normal")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()
