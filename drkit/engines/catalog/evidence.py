"""Evidence records, indexed by policy and time: the chain head for the next record, uploads still
pending, and light rows that reports read without parsing every record."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from drkit.engines.catalog.table import Table
from drkit.evidence.records import Record, parse_utc, utc_text


class EvidenceStore(Table):
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
    create index if not exists evidence_policy_snapshot on evidence(policy, snapshot_id);
    create index if not exists evidence_policy_kind_time on evidence(policy, kind, finished_at);
    -- covers the completion lookup per snapshot of a report (catalog/points.py) without reading
    -- the records: 100 policies x 3,650 snapshots went from ~2 ms to ~0.8 ms a policy
    create index if not exists evidence_policy_kind_snapshot on evidence(policy, kind, snapshot_id, finished_at, result);
    -- the guardrail's marks (catalog/guard.py): a partial index over the few suspicious backups,
    -- so a report does not parse every backup record's JSON (100 x 3,650: 1.8 s -> ~0)
    create index if not exists evidence_suspicious on evidence(policy, finished_at)
        where kind = 'backup' and json_extract(record, '$.measured.guard.suspicious') = 1;
    create table if not exists evidence_uploads (
        digest text not null,
        repository text not null,
        primary key (digest, repository)
    );
    """

    def add_record(self, record: Record, *, uploaded: bool = False) -> bool:
        """Insert a record; False when it was already present (rebuild is idempotent)."""
        cur = self.db.execute(
            "insert or ignore into evidence values (?,?,?,?,?,?,?,?,?)",
            (record.digest(), record.policy, record.kind, record.result, utc_text(record.started_at),
             utc_text(record.finished_at), record.snapshot_id, record.canonical().decode("utf-8"), int(uploaded)))
        return cur.rowcount == 1

    def mark_uploaded(self, digest: str) -> None:
        self.db.execute("update evidence set uploaded = 1 where digest = ?", (digest,))

    def mark_uploaded_to(self, digests: Iterable[str], repository: str) -> None:
        """The records are in `repository`'s bucket (docs/repositories.md: every bucket holds every record)."""
        self.db.executemany("insert or ignore into evidence_uploads values (?, ?)", [(d, repository) for d in digests])

    def pending_uploads_to(self, policy: str, repository: str, first: str) -> list[Record]:
        """The policy's records not yet in `repository`'s bucket.

        A record uploaded before uploads were kept per repository (`uploaded` = 1, no row) is in
        its own repository's bucket, which is the first when it names none: it gets its row here,
        once, so later calls compare digests only and never parse the stored records again."""
        missing = "not exists (select 1 from evidence_uploads u where u.digest = e.digest and u.repository = ?)"
        self.db.execute(
            f"insert or ignore into evidence_uploads select digest, ? from evidence e where policy = ? and {missing}"
            " and uploaded = 1 and coalesce(json_extract(record, '$.repository'), ?) = ?",
            (repository, policy, repository, first, repository))
        rows = self.db.execute(f"select record from evidence e where policy = ? and {missing} order by finished_at",
                               (policy, repository))
        return [Record.model_validate_json(r[0]) for r in rows]

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

    def run_summary(self, policy: str) -> list[tuple[str, str, int, str, str | None]]:
        """Per (kind, result): how many records, the newest finish time and the newest finish time
        of a passing run (the metrics textfile's counters and last-run gauges)."""
        return list(self.db.execute(
            "select kind, result, count(*), max(finished_at), "
            "(select max(finished_at) from evidence e2 where e2.policy = e.policy and e2.kind = e.kind "
            "and e2.result = 'pass') from evidence e where policy = ? group by kind, result order by kind, result",
            (policy,)))

    def backup_record(self, policy: str, snapshot_id: str) -> Record | None:
        """The drkit backup evidence that made a snapshot (size, manifest path and hash for drills)."""
        row = self.db.execute("select record from evidence where policy = ? and kind = 'backup' and snapshot_id = ?"
                              " order by finished_at desc limit 1", (policy, snapshot_id)).fetchone()
        return Record.model_validate_json(row[0]) if row else None

    def uploaded_to(self, policy: str, repository: str, first: str) -> list[tuple[str, str]]:
        """(digest, record text) of the policy's records this host put into `repository`'s bucket:
        rows of `evidence_uploads`, and records uploaded before those rows were kept (`uploaded` = 1)
        to their own repository, the first when they name none (see pending_uploads_to)."""
        rows = self.db.execute(
            "select digest, record from evidence e where policy = ? and (exists (select 1 from evidence_uploads u"
            " where u.digest = e.digest and u.repository = ?) or (uploaded = 1 and"
            " coalesce(json_extract(record, '$.repository'), ?) = ?)) order by finished_at",
            (policy, repository, first, repository))
        return [(digest, text) for digest, text in rows]

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

    def has_digest_prefix(self, policy: str, prefix: str) -> bool:
        """Whether a record whose digest starts with `prefix` is stored (evidence object names carry one)."""
        row = self.db.execute("select 1 from evidence where policy = ? and digest >= ? and digest < ? limit 1",
                              (policy, prefix, prefix + "g")).fetchone()
        return row is not None

    # --- light rows for reports ------------------------------------------------------------------

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

    def latest_dump_bytes(self, policy: str, until: datetime) -> int | None:
        """The database dumps' bytes in the newest successful backup finished before `until` (None:
        no such backup; 0: it dumped no database)."""
        row = self.db.execute(
            "select (select coalesce(sum(json_extract(value, '$.bytes')), 0) from json_each(record, "
            "'$.measured.databases')) from evidence where policy = ? and kind = 'backup' and result in "
            "('pass', 'partial') and finished_at < ? order by finished_at desc limit 1",
            (policy, utc_text(until))).fetchone()
        return int(row[0] or 0) if row else None

    def first_evidence_at(self, policy: str, kind: str | None = None) -> datetime | None:
        sql, args = "select min(finished_at) from evidence where policy = ?", [policy]
        if kind:
            sql += " and kind = ?"
            args.append(kind)
        row = self.db.execute(sql, args).fetchone()
        return parse_utc(row[0]) if row and row[0] else None

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

    def first_copy_at(self, policy: str, repository: str) -> datetime | None:
        """When drkit first ran a copy into `repository` (any result): the copy's objectives count from then."""
        row = self.db.execute("select min(finished_at) from evidence where policy = ? and kind = 'copy'"
                              " and json_extract(record, '$.repository') = ?", (policy, repository)).fetchone()
        return parse_utc(row[0]) if row and row[0] else None

    def copy_rows(self, policy: str, since: datetime, until: datetime, before: int = 10) -> list[tuple[str, str, str]]:
        """(digest, kind, record text) of passing copy runs finished in [since, until), and the last
        `before` ones before `since` (they hold the snapshots each copy could restore at the start)."""
        sql = "select digest, kind, record from evidence where policy = ? and kind = 'copy' and result = 'pass'"
        earlier = self.db.execute(sql + " and finished_at < ? order by finished_at desc limit ?",
                                  (policy, utc_text(since), before)).fetchall()
        within = self.db.execute(sql + " and finished_at >= ? and finished_at < ? order by finished_at",
                                 (policy, utc_text(since), utc_text(until))).fetchall()
        return earlier[::-1] + within

    def backup_rows(self, policy: str, snapshot_ids: Iterable[str]) -> list[tuple[str, str, str]]:
        """(digest, kind, record text) of the backup records naming these snapshots."""
        ids = list(snapshot_ids)
        if not ids:
            return []
        return self.db.execute(
            f"select digest, kind, record from evidence where policy = ? and kind = 'backup'"
            f" and snapshot_id in ({','.join('?' * len(ids))})", [policy, *ids]).fetchall()
