"""Retention: `restic forget` with the policy's keep rules, then `restic prune`, under the policy lock.

Forgetting is the one drkit action that destroys recovery points, so it refuses to run when the
newest backup did not succeed or no snapshot is younger than the RPO: thinning out history while
new snapshots are not arriving is how a backup set quietly ages into nothing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from drkit.core import errors
from drkit.core.durations import format_duration
from drkit.core.policy import Policy, Retention
from drkit.engines.catalog import SnapshotRow
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record, now_utc, utc_text
from drkit.jobs.backup import policy_tag

log = logging.getLogger("drkit")

# restic groups by host and paths by default: a policy whose targets changed would then keep
# `keep_last` snapshots per old path set. The tag filter already selects exactly one policy.
_GROUP_BY = ["--group-by", ""]
_FLAGS = {"keep_last": "--keep-last", "keep_hourly": "--keep-hourly", "keep_daily": "--keep-daily",
          "keep_weekly": "--keep-weekly", "keep_monthly": "--keep-monthly", "keep_yearly": "--keep-yearly"}


def forget_args(retention: Retention) -> list[str]:
    """restic forget flags for a retention section (group-by included)."""
    args: list[str] = []
    for name, flag in _FLAGS.items():
        value = getattr(retention, name)
        if value is not None:
            args += [flag, str(value)]
    if retention.keep_within is not None:
        args += ["--keep-within", restic_duration(retention.keep_within)]
    return args + _GROUP_BY


def restic_duration(span: timedelta) -> str:
    """restic's duration syntax (`2d5h`): hours are its smallest unit ('m' means months), so round up."""
    hours = max(1, math.ceil(span.total_seconds() / 3600))
    days, hours = divmod(hours, 24)
    return (f"{days}d" if days else "") + (f"{hours}h" if hours or not days else "")


def refusal(last_backup: Record | None, newest_snapshot: datetime | None, rpo: timedelta, now: datetime) -> str | None:
    """Why forgetting would be unsafe right now, or None when it may run."""
    if last_backup is not None and last_backup.result not in ("pass", "partial"):
        return (f"the newest backup ({utc_text(last_backup.finished_at)[:19]}Z) ended '{last_backup.result}'; "
                f"fix the backup before thinning out older snapshots")
    if newest_snapshot is None:
        return "the repository holds no snapshot of this policy; run a backup first"
    age = now - newest_snapshot
    if age > rpo:
        return (f"no snapshot is younger than the RPO {format_duration(rpo.total_seconds())} (newest is "
                f"{format_duration(age.total_seconds())} old); run a backup first")
    return None


@dataclass(frozen=True)
class ForgetResult:
    kept: list[str]
    removed: list[str]

    @classmethod
    def from_groups(cls, groups: list[dict]) -> "ForgetResult":
        """`restic forget --json` prints one object per group with full snapshot objects."""
        kept = [s["id"] for g in groups for s in g.get("keep") or []]
        removed = [s["id"] for g in groups for s in g.get("remove") or []]
        return cls(sorted(kept), sorted(removed))


@dataclass
class ForgetOutcome:
    policy: str
    status: str  # ok | breach | failed | interrupted | locked
    dry_run: bool = False
    record: Record | None = None
    error: errors.DrkitError | None = None
    result: ForgetResult | None = None
    pruned: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status == "ok":
            return 0
        return int(self.error.exit_code) if self.error is not None else 1


def run_forget(ws: Workspace, policy: Policy, *, dry_run: bool = False) -> ForgetOutcome:
    """Apply retention under the policy lock; UsageError (exit 2) when the policy has no retention."""
    if policy.retention.is_empty():
        raise errors.UsageError(f"{policy.name}: the policy has no retention section; nothing to forget by",
                                hint="add e.g. retention: {keep_daily: 7, keep_weekly: 4}")
    try:
        lock = ws.lock(policy.name, "forget").acquire()
    except errors.LockedError as exc:
        return ForgetOutcome(policy.name, "locked", dry_run, error=exc)
    try:
        return _forget_locked(ws, policy, dry_run)
    finally:
        lock.release()


def _forget_locked(ws: Workspace, policy: Policy, dry_run: bool) -> ForgetOutcome:
    started = now_utc()
    phases: dict[str, float] = {}
    restic_version = ""
    tags = [policy_tag(policy.name)]
    try:
        restic = ws.restic(policy)
        restic_version = ".".join(map(str, restic.version()))
        snapshots = restic.snapshots(tags=tags)
        reason = refusal(ws.catalog.last_record(policy.name, "backup"), snapshots[-1].time if snapshots else None,
                         policy.objectives.rpo, now_utc())
        if reason is not None:
            exc = errors.BreachError(f"{policy.name}: forget refused: {reason}")
            record = None if dry_run else _record(ws, policy, started, "breach", restic_version, phases, problems=[str(exc)])
            return ForgetOutcome(policy.name, "breach", dry_run, record=record, error=exc)
        mark = now_utc()
        result = ForgetResult.from_groups(restic.forget(forget_args(policy.retention), tags=tags, dry_run=dry_run))
        phases["forget"] = (now_utc() - mark).total_seconds()
        if dry_run:
            return ForgetOutcome(policy.name, "ok", True, result=result)
        mark = now_utc()
        restic.prune()
        phases["prune"] = (now_utc() - mark).total_seconds()
        ws.catalog.replace_snapshots(policy.name, [SnapshotRow(policy.name, s.id, s.time, s.hostname, s.tags)
                                                   for s in restic.snapshots()])
    except errors.DrkitError as exc:
        if dry_run:
            status = "interrupted" if isinstance(exc, errors.Interrupted) else "failed"
            return ForgetOutcome(policy.name, status, True, error=exc)
        interrupted = isinstance(exc, errors.Interrupted)
        record = _record(ws, policy, started, "interrupted" if interrupted else "error", restic_version, phases,
                         problems=[str(exc)])
        return ForgetOutcome(policy.name, "interrupted" if interrupted else "failed", record=record, error=exc)
    record = _record(ws, policy, started, "pass", restic_version, phases,
                     measured={"kept": result.kept, "removed": result.removed, "pruned": True,
                               "retention": policy.retention.model_dump(mode="json", exclude_none=True)})
    return ForgetOutcome(policy.name, "ok", record=record, result=result, pruned=True)


def _record(ws: Workspace, policy: Policy, started: datetime, result: str, restic_version: str,
            phases: dict[str, float], *, measured: dict | None = None,
            problems: list[str] | None = None) -> Record | None:
    record = Record(kind="forget", policy=policy.name, started_at=started, finished_at=now_utc(), result=result,
                    restic_version=restic_version, phases=phases, measured=measured or {}, errors=problems or [])
    try:
        return ws.record(policy, record)
    except Exception as exc:  # noqa: BLE001 - the run's own outcome must still be reported
        log.warning("could not record evidence for %s: %s", policy.name, exc)
        return None
