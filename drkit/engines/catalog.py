"""Local state in SQLite: evidence records, a cache of repository snapshot listings and the
file-hash cache used for manifests. Everything here can be rebuilt from the repositories and the
evidence in the buckets (`drkit catalog rebuild`), except the hash cache, which is only a speed-up.
"""

from __future__ import annotations

import errno
import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator

from drkit.core import errors
from drkit.engines.privacy import create_private_file, private_dirs
from drkit.evidence.records import Record, parse_utc, utc_text

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
create index if not exists evidence_policy_snapshot on evidence(policy, snapshot_id);
create index if not exists evidence_policy_kind_time on evidence(policy, kind, finished_at);
create table if not exists verified_signatures (
    digest text primary key,
    key_id text not null
);
create table if not exists snapshot_listings (
    policy text primary key,
    listed_at text not null
);
create table if not exists public_keys (
    key_id text primary key,
    pem text not null
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


@dataclass(frozen=True)
class PointRow:
    """A snapshot as a recovery point: capture time and, when drkit made it, its backup's finish.

    `listed` is False for a snapshot known only from backup evidence (since removed, e.g. by
    retention): it was a recovery point while it existed.
    """

    id: str
    time: datetime
    completion: datetime | None
    listed: bool = True


# Snapshots captured this long before a report's start are fetched by time; older ones only when
# their backup finished after the start, or as the newest point restorable at the start.
POINT_LOOKBACK_DAYS = 7


class _CatalogConnection(sqlite3.Connection):
    """A connection whose SQLite failures (disk full, read-only, not a database) are StateErrors
    naming the catalog file: one line and exit 1 instead of an OperationalError. A failed
    statement or commit changes nothing, so earlier evidence stays and the catalog stays usable."""

    catalog_path: Path

    def execute(self, *args, **kwargs):  # noqa: ANN002, ANN003 - sqlite3's own signature
        with _sqlite_errors(self.catalog_path):
            return super().execute(*args, **kwargs)

    def executemany(self, *args, **kwargs):  # noqa: ANN002, ANN003
        with _sqlite_errors(self.catalog_path):
            return super().executemany(*args, **kwargs)

    def executescript(self, *args, **kwargs):  # noqa: ANN002, ANN003
        with _sqlite_errors(self.catalog_path):
            return super().executescript(*args, **kwargs)

    def __exit__(self, *exc):  # noqa: ANN002 - `with db:` commits here
        with _sqlite_errors(self.catalog_path):
            return super().__exit__(*exc)


# SQLite result codes (https://www.sqlite.org/rescode.html) -> what to do about them
_SQLITE_HINTS = {
    "SQLITE_FULL": errors.hint_for(errno.ENOSPC),
    "SQLITE_READONLY": errors.hint_for(errno.EACCES),
    "SQLITE_CANTOPEN": errors.hint_for(errno.EACCES),
    "SQLITE_PERM": errors.hint_for(errno.EACCES),
    "SQLITE_IOERR": "the file system may be full or failing: check `df` and the kernel log",
    "SQLITE_NOTADB": "move it away and run: drkit catalog rebuild",
    "SQLITE_CORRUPT": "move it away and run: drkit catalog rebuild",
}


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError:
        raise  # a bug, not a state fault
    except sqlite3.DatabaseError as exc:
        name = getattr(exc, "sqlite_errorname", "")  # extended, e.g. SQLITE_READONLY_DIRECTORY
        hint = next((h for code, h in _SQLITE_HINTS.items() if name == code or name.startswith(code + "_")), None)
        raise errors.StateError("use the catalog", path, str(exc), hint=hint) from exc


class Catalog:
    def __init__(self, path: Path):
        with errors.state_writes("create the catalog", path):
            private_dirs(path.parent)
            create_private_file(path)
        self.path = path
        with _sqlite_errors(path):
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None, factory=_CatalogConnection)
        self.db.catalog_path = path
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

    def backup_record(self, policy: str, snapshot_id: str) -> Record | None:
        """The drkit backup evidence that made a snapshot (size, manifest path and hash for drills)."""
        row = self.db.execute("select record from evidence where policy = ? and kind = 'backup' and snapshot_id = ?"
                              " order by finished_at desc limit 1", (policy, snapshot_id)).fetchone()
        return Record.model_validate_json(row[0]) if row else None

    def stored_records(self, policy: str | None = None) -> Iterator[tuple[str, str, bool, str]]:
        """(digest column, policy, uploaded, record text) in chain order, unparsed: `evidence verify`
        must report a record that no longer parses instead of failing on it."""
        sql, args = "select digest, policy, uploaded, record from evidence", []
        if policy:
            sql += " where policy = ?"
            args.append(policy)
        for digest, pol, uploaded, text in self.db.execute(sql + " order by policy, finished_at, started_at", args):
            yield digest, pol, bool(uploaded), text

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
            self.db.execute("insert or replace into snapshot_listings values (?, ?)", (policy, utc_text(utcnow())))

    def listed_at(self, policy: str) -> datetime | None:
        """When the repository's snapshot list was last read into this cache (None: never)."""
        row = self.db.execute("select listed_at from snapshot_listings where policy = ?", (policy,)).fetchone()
        return parse_utc(row[0]) if row else None

    def first_snapshot_at(self, policy: str) -> datetime | None:
        row = self.db.execute("select min(time) from snapshots where policy = ?", (policy,)).fetchone()
        return parse_utc(row[0]) if row and row[0] else None

    def snapshot_count(self, policy: str) -> int:
        return self.db.execute("select count(*) from snapshots where policy = ?", (policy,)).fetchone()[0]

    def recovery_point_rows(self, policy: str, since: datetime) -> list[PointRow]:
        """Every snapshot that can matter to exposure from `since` on, with its completion time.

        Exact, yet independent of history size: (A) snapshots captured from `since` - 7 days on,
        (B) the newest one restorable at `since` further back, (C) every snapshot drkit's backup
        evidence names that finished after `since` (however old its capture), and the last few before.
        Any other snapshot is dominated by B and cannot change E(t).
        """
        fin = ("(select max(e.finished_at) from evidence e where e.policy = s.policy and e.kind = 'backup'"
               " and e.snapshot_id = s.id)")
        since_text = utc_text(since)
        edge = utc_text(since - timedelta(days=POINT_LOOKBACK_DAYS))
        rows = self.db.execute(f"select s.id, s.time, {fin} from snapshots s where s.policy = ? and s.time > ?",
                               (policy, edge)).fetchall()
        rows += self.db.execute(
            f"select id, time, fin from (select s.id, s.time, {fin} as fin from snapshots s"
            " where s.policy = ? and s.time <= ? order by s.time desc)"
            " where max(time, coalesce(fin, time)) <= ? limit 1", (policy, edge, since_text)).fetchall()
        points = {sid: PointRow(sid, parse_utc(t), parse_utc(f) if f else None) for sid, t, f in rows}
        # Snapshots drkit made: known from evidence even after retention removed them. The last
        # few finished by `since` hold the newest restorable one (backups of a policy never overlap).
        evidence_points = ("select snapshot_id, json_extract(record, '$.snapshot_time'), finished_at from evidence"
                           " where policy = ? and kind = 'backup' and result in ('pass', 'partial')"
                           " and snapshot_id is not null and json_extract(record, '$.snapshot_time') is not null")
        known = self.db.execute(evidence_points + " and finished_at > ?", (policy, since_text)).fetchall()
        known += self.db.execute(evidence_points + " and finished_at <= ? order by finished_at desc limit 10",
                                 (policy, since_text)).fetchall()
        extra = {sid: (t, f) for sid, t, f in known if sid not in points}
        listed = {sid for (sid,) in self.db.execute(
            f"select id from snapshots where policy = ? and id in ({','.join('?' * len(extra))})", [policy, *extra])}
        for sid, (t, f) in extra.items():
            points[sid] = PointRow(sid, parse_utc(t), parse_utc(f), listed=sid in listed)
        return list(points.values())

    # --- light evidence rows for reports --------------------------------------------------------

    def backup_sizes(self, policy: str, since: datetime | None, until: datetime) -> list[tuple[datetime, int]]:
        """(finished_at, bytes) of successful backups finished in [since, until), oldest first."""
        sql = ("select finished_at, json_extract(record, '$.bytes') from evidence where policy = ?"
               " and kind = 'backup' and result in ('pass', 'partial') and finished_at < ?")
        args: list = [policy, utc_text(until)]
        if since is not None:
            sql += " and finished_at >= ?"
            args.append(utc_text(since))
        return [(parse_utc(f), int(b or 0)) for f, b in self.db.execute(sql + " order by finished_at", args)]

    def latest_backup_size(self, policy: str, until: datetime) -> tuple[datetime, int] | None:
        """(finished_at, bytes) of the newest successful backup finished before `until`."""
        row = self.db.execute(
            "select finished_at, json_extract(record, '$.bytes') from evidence where policy = ? and kind = 'backup'"
            " and result in ('pass', 'partial') and finished_at < ? order by finished_at desc limit 1",
            (policy, utc_text(until))).fetchone()
        return (parse_utc(row[0]), int(row[1] or 0)) if row else None

    def first_evidence_at(self, policy: str, kind: str | None = None) -> datetime | None:
        sql, args = "select min(finished_at) from evidence where policy = ?", [policy]
        if kind:
            sql += " and kind = ?"
            args.append(kind)
        row = self.db.execute(sql, args).fetchone()
        return parse_utc(row[0]) if row and row[0] else None

    def has_digest_prefix(self, policy: str, prefix: str) -> bool:
        """Whether a record whose digest starts with `prefix` is stored (evidence object names carry one)."""
        row = self.db.execute("select 1 from evidence where policy = ? and digest >= ? and digest < ? limit 1",
                              (policy, prefix, prefix + "g")).fetchone()
        return row is not None

    def evidence_rows(self, policy: str, since: datetime | None = None, until: datetime | None = None,
                      kind: str | None = None) -> list[tuple[str, str, str]]:
        """(digest, kind, record text) of records finished in [since, until), oldest first: no
        parsing, so reports can count records and check signatures at scale."""
        sql, args = "select digest, kind, record from evidence where policy = ?", [policy]
        for clause, value in (("kind = ?", kind), ("finished_at >= ?", since), ("finished_at < ?", until)):
            if value is not None:
                sql += f" and {clause}"
                args.append(utc_text(value) if isinstance(value, datetime) else value)
        return self.db.execute(sql + " order by finished_at, started_at", args).fetchall()

    def backup_rows(self, policy: str, snapshot_ids: Iterable[str]) -> list[tuple[str, str, str]]:
        """(digest, kind, record text) of the backup records naming these snapshots."""
        ids = list(snapshot_ids)
        if not ids:
            return []
        return self.db.execute(
            f"select digest, kind, record from evidence where policy = ? and kind = 'backup'"
            f" and snapshot_id in ({','.join('?' * len(ids))})", [policy, *ids]).fetchall()

    # --- signatures already verified (reports verify each record once, not on every run) ----------

    def verified_keys(self, digests: Iterable[str]) -> dict[str, str]:
        """digest -> key id that verified it. Callers must re-hash the record text against the digest:
        only then does a cached verdict still apply to what the catalog holds."""
        found: dict[str, str] = {}
        batch = list(digests)
        for i in range(0, len(batch), 500):
            chunk = batch[i:i + 500]
            found.update(self.db.execute(
                f"select digest, key_id from verified_signatures where digest in ({','.join('?' * len(chunk))})", chunk))
        return found

    def mark_verified(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.db.executemany("insert or replace into verified_signatures values (?, ?)", list(pairs))

    # --- public keys of every host that signed evidence -------------------------------------------

    def add_public_key(self, key_id: str, pem: bytes) -> None:
        self.db.execute("insert or replace into public_keys values (?, ?)", (key_id, pem.decode("ascii")))

    def public_keys(self) -> dict[str, bytes]:
        return {k: pem.encode("ascii") for k, pem in self.db.execute("select key_id, pem from public_keys")}

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
