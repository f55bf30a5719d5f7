"""`drkit copy`: the policy's snapshots from its first repository into each other one (3-2-1).

`restic copy` adds only the snapshots the destination lacks (it matches the `original` id it
wrote into earlier copies), so a copy run after every backup, or once a night, keeps each copy
repository complete. A copy is its own run with its own evidence (kind `copy`, naming the
destination repository); a failed copy never changes the backup's result (docs/repositories.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drkit.core import errors
from drkit.core.display import count_of
from drkit.core.locations import public_url
from drkit.core.policy import Policy, Repository
from drkit.engines.catalog import CopyRow
from drkit.engines.workspace import Workspace
from drkit.evidence.payloads import CopiedSnapshot, CopyMeasured
from drkit.evidence.records import now_utc, utc_text
from drkit.jobs.backup import lock_objects, policy_tag
from drkit.jobs.lifecycle import RunContext, RunOutcome, register_job, run_locked


@dataclass
class CopyDetail:
    """What a copy run adds to its outcome (`detail` of drkit.run/1)."""

    source: str
    destination: str
    copied: list[str] = field(default_factory=list)
    already_present: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "destination": self.destination, "copied": self.copied,
                "already_present": self.already_present}


def destinations(policy: Policy, to: str | None = None) -> list[Repository]:
    """The repositories a copy fills: every one after the first, or the one `--to` names."""
    first = policy.repository
    if to is not None:
        repo = policy.repository_named(to)
        if repo.name == first.name:
            raise errors.UsageError(f"{policy.name}: --to {to} is the repository backups go to; copies go to "
                                    f"the others ({', '.join(r.name for r in policy.repositories[1:]) or 'none'})")
        return [repo]
    if len(policy.repositories) < 2:
        raise errors.UsageError(f"{policy.name}: the policy has one repository, nothing to copy to",
                                hint="list a second repository under `repositories:` (docs/repositories.md)")
    return list(policy.repositories[1:])


def run_copy(ws: Workspace, policy: Policy, *, to: str | None = None) -> list[RunOutcome]:
    """One run per destination repository, each under the policy's lock with its own evidence."""
    return [run_locked(ws, policy, "copy", lambda ctx: _copy(ctx, policy.repository), repository=repo.name)
            for repo in destinations(policy, to)]


def run_scheduled(ws: Workspace, policy: Policy, _file: Path | None) -> RunOutcome:
    """The daemon's copy: every destination; the worst run stands for them (each has its evidence)."""
    return max(run_copy(ws, policy), key=lambda outcome: outcome.exit_code)


def _copy(ctx: RunContext, source: Repository) -> None:
    destination = ctx.policy.repository_named(ctx.repository).name
    ctx.detail = detail = CopyDetail(source.name, destination)
    restic = ctx.restic(source=source.name)
    if ctx.clear_stale:
        restic.unlock_stale()
    tag = policy_tag(ctx.policy.name)
    started, since = time.monotonic(), now_utc()
    with ctx.phase("copy"):
        try:
            report = restic.copy(tags=[tag])
        except errors.WrongPassword as exc:
            raise _whose_password(ctx, source, destination) or exc from None
    duration = time.monotonic() - started
    # the copy's own lock_days: its objects are locked as a backup's are (docs/immutability.md)
    ctx.warnings += lock_objects(ctx.ws, ctx.policy, since, destination)
    with ctx.phase("list"):
        listed = restic.snapshots(tags=[tag])
    ctx.ws.catalog.replace_copies(ctx.policy.name, destination,
                                  [CopyRow(ctx.policy.name, destination, s.id, s.original_id, s.time) for s in listed])
    new = {dst for _src, dst in report.copied}
    copied = sorted((s for s in listed if s.short_id in new), key=lambda s: s.time)
    detail.copied, detail.already_present = [s.id for s in copied], len(report.skipped)
    ctx.measured = CopyMeasured(source=source.name, destination=destination, duration_s=round(duration, 3),
                                already_present=len(report.skipped),
                                copied=[CopiedSnapshot(source_id=s.original_id, copy_id=s.id, time=utc_text(s.time))
                                        for s in copied])
    if copied:
        ctx.snapshot_id, ctx.snapshot_time = copied[-1].id, copied[-1].time


def _whose_password(ctx: RunContext, source: Repository, destination: str) -> errors.WrongPassword | None:
    """restic copy says "wrong password or no key found" for either repository's password: try each
    alone (`restic cat config`) to name the one that does not open its repository."""
    for repo in (source, ctx.policy.repository_named(destination)):
        try:
            ctx.ws.restic(ctx.policy, repo.name).config()
        except errors.WrongPassword:
            return errors.WrongPassword(f"copy snapshots: wrong repository password for repository {repo.name} "
                                        f"({public_url(repo.url)})", hint=f"check the password source of repository {repo.name} "
                                                              f"in the policy, then: drkit doctor {ctx.policy.name}")
        except errors.DrkitError:
            continue  # not a password problem of this one: keep restic's own error
    return None


def describe(outcome: RunOutcome) -> str:
    detail = outcome.detail
    if not isinstance(detail, CopyDetail):
        return f"copy {outcome.status}"
    return (f"copy {outcome.status}: {count_of(len(detail.copied), 'snapshot')} {detail.source} -> {detail.destination}"
            + (f" ({detail.already_present} already there)" if detail.already_present else ""))


register_job("copy", run_scheduled, describe)
