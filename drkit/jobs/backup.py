"""One backup run of one policy: sources -> staging dumps -> manifest -> restic -> evidence.

The body below runs inside the shared lifecycle (drkit/jobs/lifecycle.py), which records one
signed evidence record per run, failures included, so a failed night is visible in reports
instead of silently missing.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable

from drkit import targets
from drkit.core import errors
from drkit.core.display import count_of
from drkit.core.policy import Policy
from drkit.engines.manifest import MANIFEST_NAME, build
from drkit.engines.restic import Restic, Snapshot, layout
from drkit.engines.workspace import Workspace
from drkit.evidence.payloads import BackupMeasured, DatabaseDumpMeasured, GuardMeasured
from drkit.evidence.records import now_utc
from drkit.jobs import guard, listing
from drkit.jobs.lifecycle import RunContext, RunOutcome, describe_snapshot_run, register_job, run_locked

log = logging.getLogger("drkit")

DRKIT_TAG = "drkit"


def policy_tag(name: str) -> str:
    return f"drkit-policy={name}"


@dataclass(frozen=True)
class BackupDetail:
    """What a backup adds to its outcome: the snapshot it made and the guardrail's judgement."""

    snapshot: Snapshot
    guard: GuardMeasured | None = None

    def to_json(self) -> dict:
        return {"snapshot": self.snapshot.id,
                "guard": self.guard.to_measured() if self.guard is not None else None}


def run_backup(ws: Workspace, policy: Policy, *, on_status: Callable[[dict], None] | None = None,
               time_override: datetime | None = None, timeout: float | None = None,
               notify: bool = True) -> RunOutcome:
    """Back up one policy under its lock; never raises for run failures (they become the outcome)."""
    return run_locked(ws, policy, "backup", lambda ctx: _backup(ctx, on_status, time_override, timeout),
                      notify=notify)


def _backup(ctx: RunContext, on_status, time_override, timeout) -> None:
    ws, policy = ctx.ws, ctx.policy
    targets.check_sources(policy)
    restic = ctx.restic()
    if ctx.clear_stale:
        restic.unlock_stale()  # a killed or failed run may leave restic's lock; `unlock` removes only stale ones
    staging = ws.staging(policy.name)
    with ctx.phase("dump"), errors.state_writes("write the staging directory", staging):
        _empty(staging)
        paths = targets.prepare(policy, staging)

    with ctx.phase("manifest"):
        manifest, cache = build(policy.name, paths, targets.excludes(policy), ws.catalog.hash_cache(policy.name),
                                now_utc())
        manifest_bytes = manifest.to_json()
        with errors.state_writes("write the backup manifest", staging / MANIFEST_NAME):
            (staging / MANIFEST_NAME).write_bytes(manifest_bytes)
        if staging not in paths:
            paths.append(staging)

    tags = [DRKIT_TAG, policy_tag(policy.name)]
    taken_at = (time_override or now_utc()).replace(microsecond=0)  # restic's --time has whole seconds
    with ctx.phase("backup"), _warming(ws, policy):
        summary, rc = restic.backup(paths, tags=tags, excludes=targets.excludes(policy), time_override=taken_at,
                                    timeout=timeout, on_status=on_status)

    with ctx.phase("catalog"):
        made = Snapshot(id=summary.snapshot_short_id, short_id=summary.snapshot_short_id, time=taken_at,
                        paths=[str(p) for p in paths], hostname=restic.hostname, tags=tags)
        snapshot = _list_new_snapshot(ws, policy, restic, made)
        ctx.warnings += lock_objects(ws, policy, ctx.started_at)
    ws.catalog.replace_hash_cache(policy.name, cache)

    with ctx.phase("guard"):
        verdict = guard.judge_backup(ws.catalog, policy, summary)
    if verdict is not None and verdict.suspicious:
        ctx.warnings.append(guard.warning_text(policy.name, snapshot.id, verdict))
        ctx.notice = guard.EVENT
    ctx.snapshot_id, ctx.snapshot_time, ctx.detail = snapshot.id, snapshot.time, BackupDetail(snapshot, verdict)
    ctx.bytes, ctx.files = summary.total_bytes_processed, summary.total_files_processed
    ctx.measured = BackupMeasured(
        data_added=summary.data_added, files_new=summary.files_new, files_changed=summary.files_changed,
        paths=[str(p) for p in paths], manifest=str(staging / MANIFEST_NAME), manifest_files=len(manifest.files),
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(), hashed_bytes=manifest.hashed_bytes,
        restic_duration_s=summary.total_duration, unreadable_files=len(manifest.unreadable),
        databases=_dumped(policy, staging), guard=verdict)
    ctx.problems = summary.errors[:50] + [f"{path}: {why}" for path, why in list(manifest.unreadable.items())[:50]]
    if rc == 3 or manifest.unreadable:
        unreadable = summary.errors or [f"{path}: {why}" for path, why in manifest.unreadable.items()]
        raise errors.PartialBackup(f"{policy.name}: snapshot {snapshot.short_id} is incomplete: "
                                   f"{count_of(max(len(summary.errors), len(manifest.unreadable)), 'file')} could not be read"
                                   + (f" (first: {unreadable[0]})" if unreadable else ""))


register_job("backup", lambda ws, policy, _file: run_backup(ws, policy), describe_snapshot_run)


@contextmanager
def _warming(ws: Workspace, policy: Policy) -> Iterator[None]:
    """While restic backs up, build what the rest of the run needs: the S3 client (boto3 reads its
    service model, ~0.2 s) for the listing and the evidence upload, and the signing key
    (cryptography). Both only read local files; a failure here is left for the step that needs
    them to report (docs/performance.md)."""
    def warm() -> None:
        s3 = ws.s3(policy)
        if s3 is not None:
            s3.client  # noqa: B018 - the cached client is what is wanted
        ws.key  # noqa: B018

    with ThreadPoolExecutor(1, thread_name_prefix="backup-warm") as pool:
        warming = pool.submit(warm)
        try:
            yield
        finally:
            warming.exception()  # wait; whatever failed fails again, with its message, where it is used


def _list_new_snapshot(ws: Workspace, policy: Policy, restic: Restic, made: Snapshot) -> Snapshot:
    """`made` with its full id, and the catalog's listing brought up to date by difference.

    restic's backup summary names only the short id; every other fact of the snapshot is what drkit
    passed (--time, --host, --tag, paths). The repository's snapshot names give the full id, and
    the listing is refreshed by difference (drkit/jobs/listing.py): no `restic snapshots` of the
    whole repository after each backup (docs/performance.md). Between comparisons
    (listing.COMPARE_EVERY) only the new snapshot's own name is looked up: one request."""
    if listing.compared_lately(ws.catalog, policy, now_utc()):
        snapshot_id = layout.full_id(listing.repository_ids(ws, policy, made.short_id), made.short_id)
        if snapshot_id is not None:
            made = replace(made, id=snapshot_id)
            ws.catalog.add_snapshot(listing.row_of(policy, made))
            return made
    ids = listing.repository_ids(ws, policy)
    snapshot_id = layout.full_id(ids, made.short_id)
    if snapshot_id is None:
        raise errors.ResticError(f"backup: snapshot {made.short_id} not found after backup")
    made = replace(made, id=snapshot_id)
    listing.refresh_by_difference(ws.catalog, policy, restic, ids, made)
    return made


def _dumped(policy: Policy, staging) -> list[DatabaseDumpMeasured]:
    """Per database dumped: size, duration and the server version that made it."""
    return [DatabaseDumpMeasured(target=index.target, kind=index.kind, database=dump.database, bytes=dump.bytes,
                                 duration_s=dump.duration_s, server_version=index.server_version)
            for index in targets.staged_databases(policy, staging) for dump in index.databases]


def _empty(directory) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def lock_objects(ws: Workspace, policy: Policy, since: datetime, repository: str | None = None) -> list[str]:
    """Object Lock retention on what this run wrote into the repository (None: the first), per its
    lock_days and lock_mode: a backup's objects, or what `drkit copy` wrote into a copy."""
    repo = policy.repository_named(repository)
    days = repo.lock_days
    s3 = ws.s3(policy, repo.name)
    if not days or s3 is None:
        return []
    try:
        s3.lock_new_objects(since - timedelta(seconds=5), now_utc() + timedelta(days=days), mode=repo.lock_mode)
    except errors.DrkitError as exc:
        return [f"could not set Object Lock retention: {exc}"]
    return []
