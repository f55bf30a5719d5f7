"""Recovery points: the snapshot listing joined with the backup evidence that says when each
snapshot became restorable (docs/reports.md, "Recovery points")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from drkit.engines.catalog.table import Table
from drkit.evidence.records import parse_utc, utc_text

# Snapshots captured this long before a report's start are fetched by time; older ones only when
# their backup finished after the start, or as the newest point restorable at the start.
POINT_LOOKBACK_DAYS = 7


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
    partial: bool = False  # its backup could not read every file (degraded: docs/reports.md)


class RecoveryPoints(Table):
    """Reads the `snapshots` and `evidence` tables (their DDL lives with SnapshotListing and EvidenceStore)."""

    def recovery_point_rows(self, policy: str, since: datetime, *, accept_partial: bool = True) -> list[PointRow]:
        """Every snapshot that can matter to exposure from `since` on, with its completion time.

        Exact, yet independent of history size: (A) snapshots captured from `since` - 7 days on,
        (B) the newest one restorable at `since` further back, (C) every snapshot drkit's backup
        evidence names that finished after `since` (however old its capture), and the last few before.
        Any other snapshot is dominated by B and cannot change E(t). Without `accept_partial`, a
        partial snapshot is never B (it would hide the last complete one).
        """
        fin = ("(select max(e.finished_at) from evidence e where e.policy = s.policy and e.kind = 'backup'"
               " and e.snapshot_id = s.id)")
        res = ("(select e.result from evidence e where e.policy = s.policy and e.kind = 'backup'"
               " and e.snapshot_id = s.id order by e.finished_at desc limit 1)")
        complete = "" if accept_partial else " and coalesce(res, 'pass') != 'partial'"
        since_text = utc_text(since)
        edge = utc_text(since - timedelta(days=POINT_LOOKBACK_DAYS))
        rows = self.db.execute(f"select s.id, s.time, {fin}, {res} from snapshots s where s.policy = ? and s.time > ?",
                               (policy, edge)).fetchall()
        rows += self.db.execute(
            f"select id, time, fin, res from (select s.id, s.time, {fin} as fin, {res} as res from snapshots s"
            " where s.policy = ? and s.time <= ? order by s.time desc)"
            f" where max(time, coalesce(fin, time)) <= ?{complete} limit 1", (policy, edge, since_text)).fetchall()
        points = {sid: PointRow(sid, parse_utc(t), parse_utc(f) if f else None, partial=r == "partial")
                  for sid, t, f, r in rows}
        # Snapshots drkit made: known from evidence even after retention removed them. The last
        # few finished by `since` hold the newest restorable one (backups of a policy never overlap).
        evidence_points = ("select snapshot_id, json_extract(record, '$.snapshot_time'), finished_at, result"
                           " from evidence where policy = ? and kind = 'backup' and result in ('pass', 'partial')"
                           " and snapshot_id is not null and json_extract(record, '$.snapshot_time') is not null")
        known = self.db.execute(evidence_points + " and finished_at > ?", (policy, since_text)).fetchall()
        known += self.db.execute(evidence_points + " and finished_at <= ? order by finished_at desc limit 10",
                                 (policy, since_text)).fetchall()
        extra = {sid: (t, f, r) for sid, t, f, r in known if sid not in points}
        listed = {sid for (sid,) in self.db.execute(
            f"select id from snapshots where policy = ? and id in ({','.join('?' * len(extra))})", [policy, *extra])}
        for sid, (t, f, r) in extra.items():
            points[sid] = PointRow(sid, parse_utc(t), parse_utc(f), listed=sid in listed, partial=r == "partial")
        return list(points.values())
