"""Retention: `restic forget` with the policy's keep rules, then `restic prune`, under the policy lock.

Forgetting is the one drkit action that destroys recovery points, so it refuses to run when the
newest backup did not succeed or no snapshot is younger than the RPO: thinning out history while
new snapshots are not arriving is how a backup set quietly ages into nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from drkit.core import errors
from drkit.core.display import count_of, format_when
from drkit.core.durations import format_duration
from drkit.core.outcome import SNAPSHOT_RESULTS
from drkit.core.policy import Policy, Retention
from drkit.engines.catalog import SnapshotRow
from drkit.engines.workspace import Workspace
from drkit.evidence.payloads import ForgetMeasured, ForgetRefusedMeasured
from drkit.evidence.records import Record, now_utc
from drkit.jobs.backup import policy_tag
from drkit.jobs.guard import accept, forget_guard
from drkit.jobs.lifecycle import RunContext, RunOutcome, register_job, run_locked

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
    if last_backup is not None and last_backup.result not in SNAPSHOT_RESULTS:
        return (f"the newest backup ({format_when(last_backup.finished_at)} UTC) ended '{last_backup.result}'; "
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

    def sparing(self, protected: Iterable[str]) -> "ForgetResult":
        """The same plan with the guardrail's protected snapshots moved from removed to kept."""
        spared = set(protected) & set(self.removed)
        return ForgetResult(sorted([*self.kept, *spared]), [sid for sid in self.removed if sid not in spared])

    @classmethod
    def from_groups(cls, groups: list[dict]) -> "ForgetResult":
        """`restic forget --json` prints one object per group with full snapshot objects."""
        kept = [s["id"] for g in groups for s in g.get("keep") or []]
        removed = [s["id"] for g in groups for s in g.get("remove") or []]
        return cls(sorted(kept), sorted(removed))


@dataclass
class ForgetDetail:
    """What forget adds to its outcome (also for a refusal or a dry run, where result may be None)."""

    dry_run: bool
    result: ForgetResult | None = None
    pruned: bool = False
    protected: list[str] = field(default_factory=list)            # guard.keep_clean (docs/guard.md)
    accepted_suspicious: list[str] = field(default_factory=list)  # --accept-suspicious

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "kept": self.result.kept if self.result else None,
                "removed": self.result.removed if self.result else None, "pruned": self.pruned,
                "protected": self.protected, "accepted_suspicious": self.accepted_suspicious}


def run_forget(ws: Workspace, policy: Policy, *, dry_run: bool = False,
               accept_suspicious: Sequence[str] = ()) -> RunOutcome:
    """Apply retention under the policy lock; UsageError (exit 2) when the policy has no retention.
    A dry run records and notifies nothing. `accept_suspicious` names snapshots the guardrail marked
    that a person has checked (docs/guard.md); the acceptance is recorded in the forget's evidence,
    also when the forget is then refused for another reason."""
    if policy.retention.is_empty():
        raise errors.UsageError(f"{policy.name}: the policy has no retention section; nothing to forget by",
                                hint="add e.g. retention: {keep_daily: 7, keep_weekly: 4}")
    return run_locked(ws, policy, "forget", lambda ctx: _forget(ctx, dry_run, accept_suspicious), record=not dry_run,
                      notify=not dry_run)


def _forget(ctx: RunContext, dry_run: bool, accept_suspicious: Sequence[str]) -> None:
    ws, policy = ctx.ws, ctx.policy
    tags = [policy_tag(policy.name)]
    ctx.detail = detail = ForgetDetail(dry_run)
    detail.accepted_suspicious = accept(ws.catalog.suspicious_marks(policy.name), accept_suspicious, policy.name)
    ctx.measured = ForgetRefusedMeasured(accepted_suspicious=detail.accepted_suspicious)
    restic = ctx.restic()
    snapshots = restic.snapshots(tags=tags)
    reason = refusal(ws.catalog.last_record(policy.name, "backup"), snapshots[-1].time if snapshots else None,
                     policy.objectives.rpo, now_utc())
    guard = forget_guard(ws.catalog, policy, [s.id for s in snapshots], detail.accepted_suspicious)
    reason = reason or guard.refusal(policy.name)
    if reason is not None:
        raise errors.BreachError(f"{policy.name}: forget refused: {reason}")
    detail.protected = list(guard.protected)
    with ctx.phase("forget"):
        # restic 0.14 has no "keep these ids" flag: ask for the plan, spare the protected
        # snapshots, and forget the rest by id (docs/guard.md, "Forget").
        planned = ForgetResult.from_groups(restic.forget(forget_args(policy.retention), tags=tags, dry_run=True))
        detail.result = planned.sparing(guard.protected)
        if not dry_run and detail.result.removed:
            restic.forget_ids(detail.result.removed)
    if dry_run:
        return
    with ctx.phase("prune"):
        restic.prune()
    detail.pruned = True
    ws.catalog.replace_snapshots(policy.name, [SnapshotRow(policy.name, s.id, s.time, s.hostname, s.tags)
                                               for s in restic.snapshots()])
    ctx.measured = ForgetMeasured(kept=detail.result.kept, removed=detail.result.removed, pruned=True,
                                  retention=policy.retention.model_dump(mode="json", exclude_none=True),
                                  accepted_suspicious=detail.accepted_suspicious, protected=detail.protected)


def describe(outcome: RunOutcome) -> str:
    result = outcome.detail.result if isinstance(outcome.detail, ForgetDetail) else None
    if result is not None:
        return f"forget {outcome.status}: kept {len(result.kept)}, removed {count_of(len(result.removed), 'snapshot')}"
    return f"forget {outcome.status}"


register_job("forget", lambda ws, policy, _file: run_forget(ws, policy), describe)
