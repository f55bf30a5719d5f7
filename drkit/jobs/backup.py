"""One backup run of one policy: sources -> staging dumps -> manifest -> restic -> evidence.

Every run ends in exactly one status (design 6b) and writes one signed evidence record, failures
included, so a failed night is visible in reports instead of silently missing.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from drkit import targets
from drkit.core import errors
from drkit.core.policy import Policy
from drkit.engines.catalog import SnapshotRow
from drkit.engines.manifest import MANIFEST_NAME, build
from drkit.engines.restic import Snapshot
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record, now_utc

log = logging.getLogger("drkit")

DRKIT_TAG = "drkit"


def policy_tag(name: str) -> str:
    return f"drkit-policy={name}"


@dataclass
class BackupOutcome:
    policy: str
    status: str  # ok | partial | failed | interrupted | locked
    record: Record | None = None
    error: errors.DrkitError | None = None
    snapshot: Snapshot | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status == "ok":
            return 0
        if self.error is not None:
            return int(self.error.exit_code)
        return 1


def run_backup(ws: Workspace, policy: Policy, *, on_status: Callable[[dict], None] | None = None,
               time_override: datetime | None = None, timeout: float | None = None) -> BackupOutcome:
    """Back up one policy under its lock; never raises for run failures (they become the outcome)."""
    try:
        lock = ws.lock(policy.name, "backup").acquire()
    except errors.LockedError as exc:
        return BackupOutcome(policy.name, "locked", error=exc)
    try:
        outcome = _backup_locked(ws, policy, on_status=on_status, time_override=time_override, timeout=timeout,
                                 clear_stale=lock.dead_holder is not None)
        if lock.dead_holder:
            outcome.warnings.append(f"previous run ({lock.dead_holder}) ended without finishing; "
                                    "its stale restic locks were removed")
        return outcome
    finally:
        lock.release()


def _backup_locked(ws: Workspace, policy: Policy, *, on_status, time_override, timeout,
                   clear_stale: bool) -> BackupOutcome:
    started = now_utc()
    phases: dict[str, float] = {}
    restic_version = ""
    try:
        targets.check_sources(policy)
        restic = ws.restic(policy)
        restic_version = ".".join(map(str, restic.version()))
        if clear_stale:
            restic.unlock_stale()  # a killed drkit leaves restic's lock; `unlock` removes only stale ones
        staging = ws.staging(policy.name)
        with errors.state_writes("write the staging directory", staging):
            _empty(staging)
            mark = now_utc()
            paths = targets.prepare(policy, staging)
        phases["dump"] = (now_utc() - mark).total_seconds()

        mark = now_utc()
        manifest, cache = build(policy.name, paths, targets.excludes(policy), ws.catalog.hash_cache(policy.name), mark)
        manifest_bytes = manifest.to_json()
        with errors.state_writes("write the backup manifest", staging / MANIFEST_NAME):
            (staging / MANIFEST_NAME).write_bytes(manifest_bytes)
        if staging not in paths:
            paths.append(staging)
        phases["manifest"] = (now_utc() - mark).total_seconds()

        mark = now_utc()
        summary, rc = restic.backup(paths, tags=[DRKIT_TAG, policy_tag(policy.name)], excludes=targets.excludes(policy),
                                    time_override=time_override, timeout=timeout, on_status=on_status)
        phases["backup"] = (now_utc() - mark).total_seconds()

        mark = now_utc()
        snapshots = restic.snapshots()
        ws.catalog.replace_snapshots(policy.name, [SnapshotRow(policy.name, s.id, s.time, s.hostname, s.tags)
                                                   for s in snapshots])
        snapshot = next((s for s in snapshots if s.short_id == summary.snapshot_short_id
                         or s.id.startswith(summary.snapshot_short_id)), None)
        if snapshot is None:
            raise errors.ResticError(f"backup: snapshot {summary.snapshot_short_id} not found after backup")
        warnings = _lock_objects(ws, policy, started)
        phases["catalog"] = (now_utc() - mark).total_seconds()
        ws.catalog.replace_hash_cache(policy.name, cache)
    except KeyboardInterrupt:
        record = Record(kind="backup", policy=policy.name, started_at=started, finished_at=now_utc(),
                        result="interrupted", restic_version=restic_version, phases=phases,
                        errors=["interrupted by Ctrl-C"])
        _safe_record(ws, policy, record)
        raise  # stop the remaining policies of `backup --all` too
    except errors.DrkitError as exc:
        status = "interrupted" if isinstance(exc, errors.Interrupted) else "failed"
        record = Record(kind="backup", policy=policy.name, started_at=started, finished_at=now_utc(),
                        result="interrupted" if status == "interrupted" else "error", restic_version=restic_version,
                        phases=phases, errors=[str(exc)])
        return BackupOutcome(policy.name, status, record=_safe_record(ws, policy, record), error=exc)

    partial = rc == 3
    record = Record(
        kind="backup", policy=policy.name, started_at=started, finished_at=now_utc(),
        result="partial" if partial else "pass", restic_version=restic_version,
        snapshot_id=snapshot.id, snapshot_time=snapshot.time,
        bytes=summary.total_bytes_processed, files=summary.total_files_processed, phases=phases,
        measured={"data_added": summary.data_added, "files_new": summary.files_new,
                  "files_changed": summary.files_changed, "paths": [str(p) for p in paths],
                  "manifest": str(staging / MANIFEST_NAME), "manifest_files": len(manifest.files),
                  # what a drill compares the manifest restored from the snapshot with (drill.py)
                  "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
                  "hashed_bytes": manifest.hashed_bytes, "restic_duration_s": summary.total_duration},
        errors=summary.errors[:50],
    )
    signed = ws.record(policy, record)
    if partial:
        err = errors.PartialBackup(f"{policy.name}: snapshot {snapshot.short_id} is incomplete: "
                                   f"{len(summary.errors)} file(s) could not be read"
                                   + (f" (first: {summary.errors[0]})" if summary.errors else ""))
        return BackupOutcome(policy.name, "partial", record=signed, error=err, snapshot=snapshot, warnings=warnings)
    return BackupOutcome(policy.name, "ok", record=signed, snapshot=snapshot, warnings=warnings)


def _safe_record(ws: Workspace, policy: Policy, record: Record) -> Record | None:
    """Record a failure; if even that fails (disk full), the run's own error is what matters."""
    try:
        return ws.record(policy, record)
    except Exception as exc:  # noqa: BLE001 - the original failure must still be reported
        log.warning("could not record evidence for %s: %s", policy.name, exc)
        return None


def _empty(directory) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _lock_objects(ws: Workspace, policy: Policy, since: datetime) -> list[str]:
    """Object Lock retention on what this backup wrote (policy repository.lock_days)."""
    days = policy.repository.lock_days
    s3 = ws.s3(policy)
    if not days or s3 is None:
        return []
    try:
        s3.lock_new_objects(since - timedelta(seconds=5), now_utc() + timedelta(days=days))
    except errors.DrkitError as exc:
        return [f"could not set Object Lock retention: {exc}"]
    return []
