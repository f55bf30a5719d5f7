"""The ransomware guardrail's marks (docs/guard.md), read from the evidence table: a backup's
signed record says whether its snapshot is suspicious, a forget's record which suspicious
snapshots someone accepted. Nothing is stored twice, so `catalog rebuild` restores the marks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from drkit.engines.catalog.table import Table
from drkit.evidence.records import Record, parse_utc


@dataclass(frozen=True)
class SuspiciousMark:
    """A snapshot the guardrail marked, the reasons, and whether someone accepted it since."""

    snapshot_id: str
    finished_at: datetime
    reasons: list[str]
    accepted: bool


# The same expression as the partial index evidence_suspicious (catalog/evidence.py), so SQLite uses it.
_SUSPICIOUS = "json_extract(record, '$.measured.guard.suspicious') = 1"


class GuardMarks(Table):
    """Reads the `evidence` table (its DDL lives with EvidenceStore)."""

    def accepted_suspicious(self, policy: str) -> set[str]:
        """Full ids of snapshots a `forget --accept-suspicious` run accepted."""
        rows = self.db.execute(
            "select j.value from evidence e, json_each(e.record, '$.measured.accepted_suspicious') j"
            " where e.policy = ? and e.kind = 'forget'", (policy,))
        return {value for (value,) in rows if isinstance(value, str)}

    def suspicious_marks(self, policy: str) -> list[SuspiciousMark]:
        """Every snapshot the guardrail marked suspicious, oldest first."""
        accepted = self.accepted_suspicious(policy)
        rows = self.db.execute(
            "select snapshot_id, finished_at, json_extract(record, '$.measured.guard.reasons')"
            " from evidence indexed by evidence_suspicious"
            f" where policy = ? and kind = 'backup' and snapshot_id is not null and {_SUSPICIOUS}"
            " order by finished_at", (policy,))
        return [SuspiciousMark(sid, parse_utc(fin), json.loads(reasons or "[]"), sid in accepted)
                for sid, fin, reasons in rows]

    def recent_backups(self, policy: str, limit: int) -> list[Record]:
        """The policy's newest `limit` backups that made a snapshot, newest first."""
        rows = self.db.execute("select record from evidence where policy = ? and kind = 'backup'"
                               " and result in ('pass', 'partial') order by finished_at desc limit ?",
                               (policy, limit)).fetchall()
        return [Record.model_validate_json(text) for (text,) in rows]

    def open_suspicious(self, policy: str) -> list[SuspiciousMark]:
        """Marked snapshots nobody accepted that the repository still holds (by the last listing;
        all of them when the repository was never listed)."""
        listed = {sid for (sid,) in self.db.execute("select id from snapshots where policy = ?", (policy,))}
        return [m for m in self.suspicious_marks(policy) if not m.accepted and (not listed or m.snapshot_id in listed)]
