"""The cache of each policy's repository snapshot list (`restic snapshots`), and when it was read."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from drkit.engines.catalog.table import Table, utcnow
from drkit.evidence.records import parse_utc, utc_text


@dataclass(frozen=True)
class SnapshotRow:
    policy: str
    id: str
    time: datetime
    hostname: str
    tags: list[str]


class SnapshotListing(Table):
    SCHEMA = """
    create table if not exists snapshots (
        policy text not null,
        id text not null,
        time text not null,
        hostname text,
        tags text,
        primary key (policy, id)
    );
    create index if not exists snapshots_policy_time on snapshots(policy, time);
    create table if not exists snapshot_listings (
        policy text primary key,
        listed_at text not null
    );
    """

    def replace_snapshots(self, policy: str, snapshots: Iterable[SnapshotRow]) -> None:
        with self.db:
            self.db.execute("begin")
            self.db.execute("delete from snapshots where policy = ?", (policy,))
            self.db.executemany(_INSERT, [_values(s) for s in snapshots])
            self.db.execute("insert or replace into snapshot_listings values (?, ?)", (policy, utc_text(utcnow())))

    def update_snapshots(self, policy: str, added: Iterable[SnapshotRow], removed: Iterable[str]) -> None:
        """Bring the listing up to date by difference (a backup's own snapshot, manual ones, forgotten
        ids) and stamp it as read now: what a full `replace_snapshots` would store, without re-reading
        the whole repository (docs/performance.md)."""
        with self.db:
            self.db.execute("begin")
            self.db.executemany("delete from snapshots where policy = ? and id = ?", [(policy, i) for i in removed])
            self.db.executemany(_INSERT, [_values(s) for s in added])
            self.db.execute("insert or replace into snapshot_listings values (?, ?)", (policy, utc_text(utcnow())))

    def snapshot_ids(self, policy: str) -> set[str]:
        return {row[0] for row in self.db.execute("select id from snapshots where policy = ?", (policy,))}

    def listed_at(self, policy: str) -> datetime | None:
        """When the repository's snapshot list was last read into this cache (None: never)."""
        row = self.db.execute("select listed_at from snapshot_listings where policy = ?", (policy,)).fetchone()
        return parse_utc(row[0]) if row else None

    def first_snapshot_at(self, policy: str) -> datetime | None:
        row = self.db.execute("select min(time) from snapshots where policy = ?", (policy,)).fetchone()
        return parse_utc(row[0]) if row and row[0] else None

    def snapshot_count(self, policy: str) -> int:
        return self.db.execute("select count(*) from snapshots where policy = ?", (policy,)).fetchone()[0]

    def add_snapshot(self, row: SnapshotRow) -> None:
        self.db.execute(_INSERT, _values(row))

    def snapshots(self, policy: str) -> list[SnapshotRow]:
        rows = self.db.execute("select policy, id, time, hostname, tags from snapshots where policy = ? order by time",
                               (policy,))
        return [SnapshotRow(p, i, parse_utc(t), h or "", json.loads(tags or "[]")) for p, i, t, h, tags in rows]


_INSERT = "insert or replace into snapshots values (?,?,?,?,?)"


def _values(row: SnapshotRow) -> tuple:
    return row.policy, row.id, utc_text(row.time), row.hostname, json.dumps(row.tags)


@dataclass(frozen=True)
class CopyRow:
    """A snapshot as one of the policy's other repositories lists it: `original` is the id of the
    backup's snapshot in the first repository, which `restic copy` records in every copy."""

    policy: str
    repository: str
    id: str
    original: str
    time: datetime


class CopyListing(Table):
    """Which of the policy's non-first repositories holds which snapshot (docs/repositories.md)."""

    SCHEMA = """
    create table if not exists copy_snapshots (
        policy text not null,
        repository text not null,
        id text not null,
        original text not null,
        time text not null,
        primary key (policy, repository, id)
    );
    """

    def replace_copies(self, policy: str, repository: str, rows: Iterable[CopyRow]) -> None:
        with self.db:
            self.db.execute("begin")
            self.db.execute("delete from copy_snapshots where policy = ? and repository = ?", (policy, repository))
            self.db.executemany("insert or replace into copy_snapshots values (?,?,?,?,?)",
                                [(r.policy, r.repository, r.id, r.original, utc_text(r.time)) for r in rows])

    def copies(self, policy: str, repository: str) -> list[CopyRow]:
        rows = self.db.execute("select policy, repository, id, original, time from copy_snapshots"
                               " where policy = ? and repository = ? order by time", (policy, repository))
        return [CopyRow(p, r, i, o, parse_utc(t)) for p, r, i, o, t in rows]
