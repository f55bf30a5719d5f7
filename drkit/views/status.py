"""`drkit status`: each policy's exposure now against its RPO and its last drill against its RTO
and drill interval, from the local catalog (no network).

Built on the report model over the last 30 days, so status, reports and Prometheus agree on
every number. A policy is in trouble (exit 3) when its exposure exceeds the RPO, its last
completed drill failed or took longer than the RTO, its drill is overdue, a copy repository
lags beyond the RPO (docs/repositories.md), or the ransomware guardrail marked a snapshot
nobody accepted yet (docs/guard.md) — counting only time
from when its objectives came into force (`objectives.in_force_from`, by default the policy's
first evidence record; docs/reports.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from drkit.core.compliance import Period
from drkit.core.jsonshape import JsonDocument
from drkit.core.outcome import SNAPSHOT_RESULTS
from drkit.core.policy import Policy, Repository
from drkit.engines.catalog import Catalog
from drkit.evidence.records import Record, utc_text
from drkit.views.report.gather import known_keys, policy_facts
from drkit.views.report.model import FALLBACK_DRILL_DAYS, PolicyFacts, PolicyReport, build_policy

WINDOW = timedelta(days=30)  # the attainment window of status and of Prometheus' window="30d"
OVERDUE_FACTOR = 1.5  # a drill is overdue 1.5 drill intervals after the last passing one


@dataclass(frozen=True)
class PolicyStatus:
    policy: str
    rpo_s: float
    rto_s: float
    now: datetime
    exposure_s: float  # math.inf when nothing is restorable
    last_backup: Record | None  # newest successful drkit backup
    last_run: Record | None  # newest backup run of any result
    last_drill: Record | None  # newest completed drill (interrupted ones are skipped), signature valid
    last_pass_at: datetime | None
    drill_interval_s: float
    due_by: datetime | None  # None: nothing to drill yet (no recovery point)
    report: PolicyReport  # the last 30 days
    suspicious: tuple[str, ...] = ()  # snapshots the ransomware guardrail marked, not accepted (docs/guard.md)
    unescrowed: tuple[str, ...] = ()  # S3 repositories whose password is not escrowed (a warning, not a breach)

    def warnings(self) -> list[str]:
        """What `status` warns about without failing: a repository password nobody else could recover."""
        return [f"{self.policy}: no key escrow for repository {name}: its password exists only where this host keeps it "
                f"(run: drkit keys escrow {self.policy} --recipient age1…; docs/security.md)"
                for name in self.unescrowed]

    @property
    def in_force_from(self) -> datetime | None:
        """When the objectives took effect; None: no evidence and none declared (always in force)."""
        return self.report.in_force.since

    @property
    def in_force(self) -> bool:
        return self.in_force_from is None or self.now >= self.in_force_from

    @property
    def rpo_breached(self) -> bool:
        return self.in_force and self.exposure_s > self.rpo_s

    @property
    def last_drill_rta_s(self) -> float | None:
        return self.last_drill.duration_s if self.last_drill else None

    @property
    def last_drill_ok(self) -> bool:
        d = self.last_drill
        return d is not None and d.result == "pass" and d.duration_s <= self.rto_s

    @property
    def rto_breached(self) -> bool:
        """The last drill that ran to the end failed, or restored too slowly, once in force (a trial
        drill before the objectives took effect is no breach of them)."""
        d = self.last_drill
        in_force = self.in_force_from is None or (d is not None and d.finished_at >= self.in_force_from)
        return d is not None and not self.last_drill_ok and in_force

    @property
    def lagging_copies(self) -> list[str]:
        """Copy repositories whose newest copied snapshot is older than the RPO now (or that hold
        none): losing the first repository would lose more than the RPO allows (docs/repositories.md)."""
        if not self.in_force:
            return []
        return [r.name for r in self.report.repositories
                if r.copy_of is not None and (r.rpo.current_exposure_s is None or r.rpo.current_exposure_s > self.rpo_s)]

    @property
    def drill_overdue(self) -> bool:
        return self.due_by is not None and self.now > self.due_by

    @property
    def problems(self) -> list[str]:
        found = []
        if self.rpo_breached:
            found.append("RPO")
        if self.rto_breached:
            found.append("RTO")
        if self.drill_overdue:
            found.append("DRILL OVERDUE")
        if self.suspicious:
            found.append("SUSPICIOUS")
        found += [f"COPY LAG {name}" for name in self.lagging_copies]
        return found

    @property
    def breached(self) -> bool:
        return bool(self.problems)

    @property
    def verdict(self) -> str:
        return "BREACH" if self.problems else "OK"

    def as_dict(self) -> dict:
        """`drkit status --json`: seconds as numbers, times ISO 8601 UTC, null when unknown."""
        d = self.last_drill
        return {
            "policy": self.policy, "verdict": self.verdict, "problems": self.problems,
            "rpo_s": self.rpo_s, "exposure_s": None if math.isinf(self.exposure_s) else self.exposure_s,
            "last_backup_at": utc_text(self.last_backup.finished_at) if self.last_backup else None,
            "last_snapshot_id": self.last_backup.snapshot_id if self.last_backup else None,
            "last_run_result": self.last_run.result if self.last_run else None,
            "rto_s": self.rto_s,
            "last_drill_at": utc_text(d.finished_at) if d else None,
            "last_drill_result": d.result if d else None,
            "last_drill_rta_s": self.last_drill_rta_s,
            "last_pass_at": utc_text(self.last_pass_at) if self.last_pass_at else None,
            "drill_interval_s": self.drill_interval_s,
            "drill_due_by": utc_text(self.due_by) if self.due_by else None,
            "drill_overdue": self.drill_overdue,
            "rpo_attainment_30d": self.report.rpo.attainment,
            "rto_attainment_30d": self.report.rto.attainment,
            "projected_full_rto_s": self.report.rto.projected_full_rto_s,
            "in_force_from": utc_text(self.in_force_from) if self.in_force_from else None,
            "in_force": self.in_force,
            "coverage_30d": self.report.in_force.coverage,
            "suspicious_snapshots": list(self.suspicious),
            "key_escrow_missing": list(self.unescrowed),
            "copies": [{"repository": r.name, "exposure_s": r.rpo.current_exposure_s,
                        "last_copy_at": utc_text(r.last_copy_at) if r.last_copy_at else None,
                        "lagging": r.name in self.lagging_copies}
                       for r in self.report.repositories if r.copy_of is not None],
        }


@dataclass(frozen=True)
class StatusBoard(JsonDocument, schema="drkit.status/1"):
    """Every policy's status at one moment: what `drkit status` shows."""

    generated_at: datetime
    policies: list[PolicyStatus]

    @property
    def breached(self) -> bool:
        return any(p.breached for p in self.policies)

    def json_fields(self) -> dict:
        return {"generated_at": utc_text(self.generated_at), "policies": [p.as_dict() for p in self.policies]}


def drill_interval(policy: Policy) -> timedelta:
    phrase = policy.schedule.drill
    return phrase.nominal_interval if phrase is not None else timedelta(days=FALLBACK_DRILL_DAYS)


def due_by(facts: PolicyFacts, last_pass_at: datetime | None, first_point_at: datetime | None,
           interval: timedelta, in_force_from: datetime | None = None) -> datetime | None:
    """When the next passing drill is due at the latest: 1.5 intervals after the last passing drill,
    or after the first recovery point for a policy never drilled (nothing could be drilled before);
    never counting from before the objectives came into force."""
    start = last_pass_at or min((t for t in (first_point_at, facts.first_evidence_at) if t is not None),
                                default=None)
    if start is None:
        return None
    if in_force_from is not None:
        start = max(start, in_force_from)
    return start + interval * OVERDUE_FACTOR


def policy_status(catalog: Catalog, state_dir: Path, policy: Policy, now: datetime, keys=None) -> PolicyStatus:
    keys = keys if keys is not None else known_keys(catalog, state_dir)
    period = Period(now - WINDOW, now)
    facts = policy_facts(catalog, policy, period, keys)
    report = build_policy(facts, period, now)
    completed = [d for d in facts.drills if d.verified and d.record.result not in ("interrupted", "missed")]
    last_drill = max(completed, key=lambda d: d.record.finished_at).record if completed else None
    interval = drill_interval(policy)
    current = report.rpo.current_exposure_s
    return PolicyStatus(
        policy=policy.name, rpo_s=report.rpo.target_s, rto_s=report.rto.target_s, now=now,
        exposure_s=math.inf if current is None else current,
        last_backup=catalog.last_record(policy.name, "backup", list(SNAPSHOT_RESULTS)),
        last_run=catalog.last_record(policy.name, "backup"),
        last_drill=last_drill, last_pass_at=report.rto.last_pass_at,
        drill_interval_s=interval.total_seconds(),
        due_by=due_by(facts, report.rto.last_pass_at, catalog.first_snapshot_at(policy.name), interval,
                      report.in_force.since),
        report=report,
        suspicious=tuple(m.snapshot_id for m in catalog.open_suspicious(policy.name)),
        unescrowed=tuple(r.name for r in unescrowed(policy, set(catalog.escrows(policy.name)))),
    )


def unescrowed(policy: Policy, escrowed: set[str]) -> Iterator[Repository]:
    """The policy's S3 repositories without a noted escrow (a local repository has no bucket to hold one)."""
    return (r for r in policy.repositories if r.url.startswith("s3:") and r.name not in escrowed)


def status_board(catalog: Catalog, state_dir: Path, policies: list[Policy], now: datetime) -> StatusBoard:
    keys = known_keys(catalog, state_dir)
    return StatusBoard(now, [policy_status(catalog, state_dir, p, now, keys) for p in policies])
