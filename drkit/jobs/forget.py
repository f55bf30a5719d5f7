"""Retention: `restic forget` with the policy's keep rules, then `restic prune`, under the policy lock.

Forgetting is the one drkit action that destroys recovery points, so it refuses to run when the
newest backup did not succeed or no snapshot is younger than the RPO: thinning out history while
new snapshots are not arriving is how a backup set quietly ages into nothing.

Every repository of the policy gets the retention, each as its own run with its own evidence
(naming the repository), as `drkit copy` does: a copy repository would otherwise grow forever.
On a copy the refusals use the copy's own newest snapshot, and the guardrail maps each copied
snapshot to the backup it came from (`original`; docs/repositories.md, docs/guard.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from drkit.core import errors
from drkit.core.display import count_of, format_when
from drkit.core.durations import format_duration
from drkit.core.outcome import SNAPSHOT_RESULTS
from drkit.core.policy import Policy, Repository, Retention
from drkit.engines.catalog import CopyRow, SnapshotRow
from drkit.engines.workspace import Workspace
from drkit.evidence.payloads import ForgetMeasured, ForgetRefusedMeasured
from drkit.evidence.records import Record, now_utc
from drkit.jobs.backup import policy_tag
from drkit.jobs.guard import accept, backup_ids, forget_guard
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


def refusal(last_backup: Record | None, newest_snapshot: datetime | None, rpo: timedelta, now: datetime,
            *, copy: str | None = None) -> str | None:
    """Why forgetting would be unsafe right now, or None when it may run. `copy` names the policy
    when the repository is a copy: its newest snapshot is the newest copied one, and the way out
    is a copy run rather than a backup."""
    if last_backup is not None and last_backup.result not in SNAPSHOT_RESULTS:
        return (f"the newest backup ({format_when(last_backup.finished_at)} UTC) ended '{last_backup.result}'; "
                f"fix the backup before thinning out older snapshots")
    first = "run a backup first" if copy is None else f"bring the copy up to date first (drkit copy {copy})"
    if newest_snapshot is None:
        return f"the repository holds no snapshot of this policy; {first}"
    age = now - newest_snapshot
    if age > rpo:
        return (f"no snapshot is younger than the RPO {format_duration(rpo.total_seconds())} (newest is "
                f"{format_duration(age.total_seconds())} old); {first}")
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
    repository: str | None = None                                 # the repository's name (None: unknown)
    copy: bool = False                                            # the repository is a copy, not the first
    pruned: bool = False
    protected: list[str] = field(default_factory=list)            # guard.keep_clean (docs/guard.md)
    accepted_suspicious: list[str] = field(default_factory=list)  # --accept-suspicious

    def to_json(self) -> dict[str, Any]:
        return {"repository": self.repository, "dry_run": self.dry_run, "kept": self.result.kept if self.result else None,
                "removed": self.result.removed if self.result else None, "pruned": self.pruned,
                "protected": self.protected, "accepted_suspicious": self.accepted_suspicious}


def repositories(policy: Policy, repository: str | None = None) -> list[Repository]:
    """The repositories a forget thins out: every one of the policy, or the one `--repository` names."""
    return [policy.repository_named(repository)] if repository is not None else list(policy.repositories)


def run_forget(ws: Workspace, policy: Policy, *, dry_run: bool = False, accept_suspicious: Sequence[str] = (),
               repository: str | None = None) -> list[RunOutcome]:
    """Apply retention under the policy lock, one run per repository (every one, or `repository`),
    the first first; a run that fails or is refused does not stop the next. UsageError (exit 2)
    when the policy has no retention. A dry run records and notifies nothing. `accept_suspicious`
    names snapshots the guardrail marked that a person has checked (docs/guard.md); the acceptance
    is recorded in each forget's evidence, also when the forget is then refused for another reason."""
    if policy.retention.is_empty():
        raise errors.UsageError(f"{policy.name}: the policy has no retention section; nothing to forget by",
                                hint="add e.g. retention: {keep_daily: 7, keep_weekly: 4}")
    accept(ws.catalog.suspicious_marks(policy.name), accept_suspicious, policy.name)  # a usage error once, not per run
    return [run_locked(ws, policy, "forget", lambda ctx: _forget(ctx, dry_run, accept_suspicious), record=not dry_run,
                       notify=not dry_run, repository=repo.name)
            for repo in repositories(policy, repository)]


def run_scheduled(ws: Workspace, policy: Policy, _file: Path | None) -> RunOutcome:
    """The daemon's forget: every repository; the worst run stands for them (each has its evidence)."""
    return max(run_forget(ws, policy), key=lambda outcome: outcome.exit_code)


def _forget(ctx: RunContext, dry_run: bool, accept_suspicious: Sequence[str]) -> None:
    ws, policy = ctx.ws, ctx.policy
    repo = policy.repository_named(ctx.repository)
    copy = policy.copy_named(repo.name) is not None
    tags = [policy_tag(policy.name)]
    ctx.detail = detail = ForgetDetail(dry_run, repository=repo.name, copy=copy)
    detail.accepted_suspicious = accept(ws.catalog.suspicious_marks(policy.name), accept_suspicious, policy.name)
    ctx.measured = ForgetRefusedMeasured(accepted_suspicious=detail.accepted_suspicious)
    restic = ctx.restic()
    snapshots = restic.snapshots(tags=tags)
    reason = refusal(ws.catalog.last_record(policy.name, "backup"), snapshots[-1].time if snapshots else None,
                     policy.objectives.rpo, now_utc(), copy=policy.name if copy else None)
    ids = backup_ids(snapshots, copy=copy)  # a copy's snapshots by the backup they came from
    guard = forget_guard(ws.catalog, policy, list(dict.fromkeys(ids.values())), detail.accepted_suspicious)
    reason = reason or guard.refusal(policy.name)
    if reason is not None:
        where = f" on repository {repo.name}" if copy else ""
        raise errors.BreachError(f"{policy.name}: forget refused{where}: {reason}")
    detail.protected = guard.protecting(ids)
    with ctx.phase("forget"):
        # restic 0.14 has no "keep these ids" flag: ask for the plan, spare the protected
        # snapshots, and forget the rest by id (docs/guard.md, "Forget").
        planned = ForgetResult.from_groups(restic.forget(forget_args(policy.retention), tags=tags, dry_run=True))
        detail.result = planned.sparing(detail.protected)
        if not dry_run and detail.result.removed:
            restic.forget_ids(detail.result.removed)
    if dry_run:
        return
    with ctx.phase("prune"):
        restic.prune()
    detail.pruned = True
    if copy:  # the copy's listing in the catalog, as `drkit copy` keeps it (docs/repositories.md)
        ws.catalog.replace_copies(policy.name, repo.name, [CopyRow(policy.name, repo.name, s.id, s.original_id, s.time)
                                                           for s in restic.snapshots(tags=tags)])
    else:
        ws.catalog.replace_snapshots(policy.name, [SnapshotRow(policy.name, s.id, s.time, s.hostname, s.tags)
                                                   for s in restic.snapshots()])
    ctx.measured = ForgetMeasured(kept=detail.result.kept, removed=detail.result.removed, pruned=True,
                                  retention=policy.retention.model_dump(mode="json", exclude_none=True),
                                  accepted_suspicious=detail.accepted_suspicious, protected=detail.protected)


def describe(outcome: RunOutcome) -> str:
    detail = outcome.detail if isinstance(outcome.detail, ForgetDetail) else None
    result = detail.result if detail is not None else None
    where = f" on {detail.repository}" if detail is not None and detail.copy else ""  # the first's: as ever
    if result is not None:
        return (f"forget {outcome.status}{where}: kept {len(result.kept)}, "
                f"removed {count_of(len(result.removed), 'snapshot')}")
    return f"forget {outcome.status}{where}"


register_job("forget", run_scheduled, describe)
