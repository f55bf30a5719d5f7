"""Exposure now against the RPO, per policy, from the local catalog (no network)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .catalog import Catalog
from .compliance import RecoveryPoint, exposure_at
from .evidence import Record
from .policy import Policy


@dataclass(frozen=True)
class BackupStatus:
    policy: str
    rpo_s: float
    last_backup: Record | None       # newest successful drkit backup
    last_run: Record | None          # newest backup run of any result
    exposure_s: float                # math.inf when there is no recovery point
    newest_point: datetime | None

    @property
    def breached(self) -> bool:
        return self.exposure_s > self.rpo_s

    @property
    def verdict(self) -> str:
        return "BREACH" if self.breached else "OK"


def recovery_points(catalog: Catalog, policy: str, now: datetime) -> list[RecoveryPoint]:
    """Every snapshot in the repository listing (manual restic ones too), completed when drkit
    saw its backup finish, else at its own time."""
    completion = catalog.completion_times(policy)
    return [RecoveryPoint(capture=s.time, completion=completion.get(s.id), snapshot_id=s.id)
            for s in catalog.snapshots(policy) if s.time <= now]


def backup_status(catalog: Catalog, policy: Policy, now: datetime) -> BackupStatus:
    points = recovery_points(catalog, policy.name, now)
    newest = max((p.capture for p in points if p.completed_at <= now), default=None)
    return BackupStatus(
        policy=policy.name,
        rpo_s=policy.objectives.rpo.total_seconds(),
        last_backup=catalog.last_record(policy.name, "backup", ["pass", "partial"]),
        last_run=catalog.last_record(policy.name, "backup"),
        exposure_s=exposure_at(points, now),
        newest_point=newest,
    )
