"""The ransomware guardrail between the catalog and the jobs (docs/guard.md): judge a new backup
against the policy's recent ones (the math is drkit/core/guard.py), and tell `forget` which
snapshots it must refuse over or keep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from drkit.core import errors
from drkit.core.guard import BackupFigures, PastBackup, baseline, judge
from drkit.core.policy import Policy
from drkit.engines.catalog import Catalog, SuspiciousMark
from drkit.engines.restic.output import BackupSummary, Snapshot
from drkit.evidence.payloads import BackupMeasured, GuardMeasured, measured_if
from drkit.evidence.records import Record

EVENT = "backup_suspicious"


def figures_of_summary(summary: BackupSummary) -> BackupFigures:
    return BackupFigures(files=summary.total_files_processed, bytes=summary.total_bytes_processed,
                         files_new=summary.files_new, files_changed=summary.files_changed,
                         data_added=summary.data_added)


def _past(record: Record, accepted: set[str]) -> PastBackup | None:
    measured = measured_if(record, BackupMeasured)
    if measured is None:
        return None
    figures = BackupFigures(files=record.files, bytes=record.bytes, files_new=measured.files_new,
                            files_changed=measured.files_changed, data_added=measured.data_added)
    suspicious = measured.guard is not None and measured.guard.suspicious
    return PastBackup(figures, suspicious, record.snapshot_id in accepted)


def judge_backup(catalog: Catalog, policy: Policy, summary: BackupSummary) -> GuardMeasured | None:
    """The guardrail's judgement of the backup just made (None when `guard.enabled` is false).
    Reads the recent backup evidence; a few suspicious ones in between are skipped, so it reads
    a little more than `guard.history` records."""
    guard = policy.guard
    if not guard.enabled:
        return None
    accepted = catalog.accepted_suspicious(policy.name)
    past = [p for p in (_past(r, accepted) for r in catalog.recent_backups(policy.name, guard.history * 3 + 10))
            if p is not None]
    verdict = judge(figures_of_summary(summary), baseline(past, guard.history), guard)
    return GuardMeasured(suspicious=verdict.suspicious, signals=list(verdict.signals), reasons=list(verdict.reasons),
                         baseline_backups=verdict.baseline_backups, baseline_files=verdict.baseline_files,
                         baseline_bytes=verdict.baseline_bytes, files_unmodified=summary.files_unmodified,
                         changed_percent=verdict.changed_percent, added_ratio=round(verdict.added_ratio, 4))


def warning_text(policy: str, snapshot: str, guard: GuardMeasured) -> str:
    """The backup's warning line (stderr, notification): what looked wrong and the way out."""
    return (f"snapshot {snapshot[:8]} looks like ransomware or mass deletion: {'; '.join(guard.reasons)}; "
            f"forget is blocked until you check it (then: drkit forget {policy} --accept-suspicious {snapshot[:8]})")


@dataclass(frozen=True)
class ForgetGuard:
    """What the guardrail asks of one forget run: unreviewed suspicious snapshots block it, and
    the newest `keep_clean` snapshots that were never suspicious survive it."""

    blocking: tuple[SuspiciousMark, ...]
    protected: tuple[str, ...]

    def protecting(self, backup_ids: Mapping[str, str]) -> list[str]:
        """The protected snapshots as one repository lists them (`backup_ids`: see `backup_ids`)."""
        protected = set(self.protected)
        return [sid for sid, backup in backup_ids.items() if backup in protected]

    def refusal(self, policy: str) -> str | None:
        if not self.blocking:
            return None
        ids = ", ".join(m.snapshot_id[:8] for m in self.blocking)
        first = self.blocking[-1]
        return (f"snapshot {ids} {'is' if len(self.blocking) == 1 else 'are'} marked suspicious: "
                f"{first.reasons[0] if first.reasons else 'see its backup evidence'}; check the data, then run "
                f"drkit forget {policy} --accept-suspicious {first.snapshot_id[:8]}")


def accept(marks: Sequence[SuspiciousMark], wanted: Sequence[str], policy: str) -> list[str]:
    """Full ids of the suspicious snapshots named by `--accept-suspicious` (ids or prefixes);
    UsageError (exit 2) naming the choices when one is not a suspicious snapshot of the policy."""
    chosen: list[str] = []
    for prefix in wanted:
        matches = [m.snapshot_id for m in marks if m.snapshot_id.startswith(prefix.lower())]
        if len(matches) != 1:
            known = ", ".join(m.snapshot_id[:8] for m in marks) or "none"
            why = "matches several" if matches else "is not a snapshot the guardrail marked"
            raise errors.UsageError(f"{policy}: --accept-suspicious {prefix} {why} (suspicious snapshots: {known})")
        chosen.append(matches[0])
    return chosen


def forget_guard(catalog: Catalog, policy: Policy, listed: Sequence[str], accepted_now: Sequence[str]) -> ForgetGuard:
    """The guardrail for a forget over the snapshots `listed` (repository order, oldest first)."""
    if not policy.guard.enabled:
        return ForgetGuard((), ())
    present = set(listed)
    marks = [m for m in catalog.suspicious_marks(policy.name) if m.snapshot_id in present]
    marked = {m.snapshot_id for m in marks}
    blocking = tuple(m for m in marks if not m.accepted and m.snapshot_id not in accepted_now)
    clean = [sid for sid in listed if sid not in marked]
    keep = policy.guard.keep_clean
    return ForgetGuard(blocking, tuple(clean[-keep:]) if keep else ())


def backup_ids(snapshots: Sequence[Snapshot], *, copy: bool) -> dict[str, str]:
    """Each listed snapshot's id -> the id the guardrail's marks use: the first repository's. In a
    copy repository that is the snapshot's `original` (restic copy records it; docs/repositories.md),
    so a copy of a suspicious backup blocks the copy's forget and `keep_clean` protects the copies
    of the clean ones (docs/guard.md). Repository order (oldest first) is kept."""
    return {s.id: s.original_id if copy else s.id for s in snapshots}
