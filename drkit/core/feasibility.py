"""Can the backup schedule meet the RPO at all? Worst-case exposure just before a backup completes
is the schedule interval plus the backup's own duration (p95 of measured runs when known)."""

from __future__ import annotations

from dataclasses import dataclass

from drkit.core.compliance import percentile
from drkit.core.durations import format_duration
from drkit.core.policy import Policy


@dataclass(frozen=True)
class Feasibility:
    feasible: bool | None       # None: no backup schedule, cannot tell
    interval_s: float | None
    p95_duration_s: float | None
    worst_exposure_s: float | None
    rpo_s: float
    message: str

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("feasible", "interval_s", "p95_duration_s", "worst_exposure_s", "rpo_s",
                                               "message")}


def rpo_feasibility(policy: Policy, durations_s: list[float]) -> Feasibility:
    rpo = policy.objectives.rpo.total_seconds()
    phrase = policy.schedule.backup
    if phrase is None:
        return Feasibility(None, None, None, None, rpo,
                           "no backup schedule: backups run only when started by hand or by cron")
    interval = phrase.nominal_interval.total_seconds()
    p95 = percentile(durations_s, 95) if durations_s else None
    worst = interval + (p95 or 0.0)
    feasible = worst <= rpo
    basis = f"interval {format_duration(interval)}" + (
        f" + p95 backup duration {format_duration(p95)}" if p95 is not None else " (no measured backups yet)")
    verdict = "can meet" if feasible else "CANNOT meet"
    return Feasibility(feasible, interval, p95, worst, rpo,
                       f"{verdict} RPO {format_duration(rpo)}: worst-case exposure {format_duration(worst)} = {basis}")
