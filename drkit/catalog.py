"""Local state in SQLite: evidence records, a cache of repository snapshot listings and the
file-hash cache used for manifests. Everything here can be rebuilt from the repositories and the
evidence in the buckets (`drkit catalog rebuild`), except the hash cache, which is only a speed-up.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from .evidence import Record, parse_utc, utc_text

SCHEMA = """
create table if not exists evidence (
    digest text primary key,
    policy text not null,
    kind text not null,
    result text not null,
    started_at text not null,
    finished_at text not null,
    snapshot_id text,
    record text not null,
    uploaded integer not null default 0
);
create index if not exists evidence_policy_time on evidence(policy, finished_at);
create table if not exists snapshots (
    policy text not null,
    id text not null,
    time text not null,
    hostname text,
    tags text,
    primary key (policy, id)
);
create index if not exists snapshots_policy_time on snapshots(policy, time);
create table if not exists file_hashes (
    policy text not null,
    path text not null,
    size integer not null,
    mtime_ns integer not null,
    ctime_ns integer not null,
    inode integer not null,
    sha256 text not null,
    primary key (policy, path)
);
"""


@dataclass(frozen=True)
class CachedHash:
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    sha256: str


@dataclass(frozen=True)
class SnapshotRow:
    policy: str
    id: str
    time: datetime
    hostname: str
    tags: list[str]


class Catalog:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.execute("pragma journal_mode=wal")
        self.db.execute("pragma synchronous=normal")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- evidence --------------------------------------------------------------------------

    def add_record(self, record: Record, *, uploaded: bool = False) -> bool:
        """Insert a record; False when it was already present (rebuild is idempotent)."""
        cur = self.db.execute(
            "insert or ignore into evidence values (?,?,?,?,?,?,?,?,?)",
            (record.digest(), record.policy, record.kind, record.result, utc_text(record.started_at),
             utc_text(record.finished_at), record.snapshot_id, record.canonical().decode("utf-8"), int(uploaded)))
        return cur.rowcount == 1

    def mark_uploaded(self, digest: str) -> None:
        self.db.execute("update evidence set uploaded = 1 where digest = ?", (digest,))

    def pending_uploads(self, policy: str) -> list[Record]:
        rows = self.db.execute("select record from evidence where policy = ? and uploaded = 0 order by finished_at",
                               (policy,))
        return [Record.model_validate_json(r[0]) for r in rows]

    def records(self, policy: str | None = None, kind: str | None = None,
                since: datetime | None = None, until: datetime | None = None) -> Iterator[Record]:
        sql, args = "select record from evidence where 1=1", []
        if policy:
            sql += " and policy = ?"
            args.append(policy)
        if kind:
            sql += " and kind = ?"
            args.append(kind)
        if since:
            sql += " and finished_at >= ?"
            args.append(utc_text(since))
        if until:
            sql += " and finished_at < ?"
            args.append(utc_text(until))
        for (text,) in self.db.execute(sql + " order by finished_at, started_at", args):
            yield Record.model_validate_json(text)

    def last_record(self, policy: str, kind: str | None = None, result: Iterable[str] | None = None) -> Record | None:
        sql, args = "select record from evidence where policy = ?", [policy]
        if kind:
            sql += " and kind = ?"
            args.append(kind)
        if result:
            results = list(result)
            sql += f" and result in ({','.join('?' * len(results))})"
            args += results
        row = self.db.execute(sql + " order by finished_at desc limit 1", args).fetchone()
        return Record.model_validate_json(row[0]) if row else None

    def chain_head(self, policy: str) -> str | None:
        """Digest of the policy's newest record: the next record's `prev`."""
        row = self.db.execute("select digest from evidence where policy = ? order by finished_at desc, started_at desc limit 1",
                              (policy,)).fetchone()
        return row[0] if row else None

    def completion_times(self, policy: str) -> dict[str, datetime]:
        """snapshot id -> finished_at of the drkit backup that made it."""
        rows = self.db.execute(
            "select snapshot_id, finished_at from evidence where policy = ? and kind = 'backup' and snapshot_id is not null",
            (policy,))
        return {sid: parse_utc(fin) for sid, fin in rows}

    # --- snapshot listing cache --------------------------------------------------------------

    def replace_snapshots(self, policy: str, snapshots: Iterable[SnapshotRow]) -> None:
        with self.db:
            self.db.execute("begin")
            self.db.execute("delete from snapshots where policy = ?", (policy,))
            self.db.executemany("insert or replace into snapshots values (?,?,?,?,?)",
                                [(s.policy, s.id, utc_text(s.time), s.hostname, json.dumps(s.tags)) for s in snapshots])

    def add_snapshot(self, row: SnapshotRow) -> None:
        self.db.execute("insert or replace into snapshots values (?,?,?,?,?)",
                        (row.policy, row.id, utc_text(row.time), row.hostname, json.dumps(row.tags)))

    def snapshots(self, policy: str) -> list[SnapshotRow]:
        rows = self.db.execute("select policy, id, time, hostname, tags from snapshots where policy = ? order by time",
                               (policy,))
        return [SnapshotRow(p, i, parse_utc(t), h or "", json.loads(tags or "[]")) for p, i, t, h, tags in rows]

    # --- hash cache --------------------------------------------------------------------------

    def hash_cache(self, policy: str) -> dict[str, CachedHash]:
        rows = self.db.execute("select path, size, mtime_ns, ctime_ns, inode, sha256 from file_hashes where policy = ?",
                               (policy,))
        return {path: CachedHash(*rest) for path, *rest in rows}

    def replace_hash_cache(self, policy: str, entries: dict[str, CachedHash]) -> None:
        with self.db:
            self.db.execute("begin")
            self.db.execute("delete from file_hashes where policy = ?", (policy,))
            self.db.executemany("insert into file_hashes values (?,?,?,?,?,?,?)",
                                [(policy, p, h.size, h.mtime_ns, h.ctime_ns, h.inode, h.sha256) for p, h in entries.items()])


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
