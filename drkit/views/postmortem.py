"""`drkit postmortem NAME [--drill ID]`: a Markdown skeleton for the review after a failed or
breached drill, filled from its signed evidence record: the timeline of its phases, its errors and
failed checks, which objective was exceeded and by how much, the drills before it; then empty
sections for the root cause, the impact and the actions (docs/recovery.md, "Post-mortem").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from drkit.core import errors
from drkit.core.durations import format_duration
from drkit.core.outcome import VERDICT
from drkit.core.policy import Policy
from drkit.engines.catalog import Catalog
from drkit.evidence.records import Record, signature_problem
from drkit.views.report.gather import known_keys
from drkit.views.runbook import markdown_templates

PHASE_ORDER = ("preflight", "restore", "verify", "checks")  # the drill's clock (docs/drill.md)
REVIEWED = ("fail", "breach", "error", "interrupted")        # results worth a post-mortem
EARLIER_SHOWN = 5


@dataclass(frozen=True)
class Event:
    at: datetime
    elapsed_s: float
    what: str


@dataclass(frozen=True)
class Exceeded:
    objective: str     # "RTO" or "RPO"
    target_s: float
    measured_s: float

    @property
    def over_s(self) -> float:
        return self.measured_s - self.target_s


@dataclass(frozen=True)
class PostMortem:
    policy: Policy
    record: Record
    signature: str           # "verified" or why not
    events: list[Event]
    exceeded: list[Exceeded]
    failed_checks: list[dict[str, Any]]
    earlier: list[Record]    # the drills before it, newest first
    generated_at: datetime

    @property
    def verdict(self) -> str:
        return VERDICT.get(self.record.result, "ERROR")

    @property
    def measured(self) -> dict[str, Any]:
        return self.record.measured


def choose_drill(catalog: Catalog, policy: str, drill_id: str | None) -> Record:
    """The drill to review: the one whose evidence digest starts with `drill_id`, else the newest
    failed, breached or errored drill."""
    drills = list(catalog.records(policy, "drill"))
    if drill_id is not None:
        found = [r for r in drills if r.digest().startswith(drill_id.lower())]
        if len(found) != 1:
            raise errors.UsageError(f"--drill {drill_id}: {'no' if not found else 'more than one'} drill record of "
                                    f"{policy} has a digest starting so", hint="give more digits of the digest")
        return found[0]
    reviewed = [r for r in drills if r.result in REVIEWED]
    if not reviewed:
        raise errors.UsageError(f"{policy} has no failed, breached or errored drill in the catalog",
                                hint="pass --drill DIGEST to write one for another drill")
    return reviewed[-1]


def timeline_of(record: Record) -> list[Event]:
    """The drill's phases as consecutive events from its request (the clock's order; `other` holds
    the gaps between them, shown last)."""
    events = [Event(record.started_at, 0.0, f"drill requested (snapshot: {record.measured.get('snapshot_selector', '?')})")]
    elapsed = 0.0
    for phase in [p for p in PHASE_ORDER if p in record.phases]:
        elapsed += record.phases[phase]
        events.append(Event(record.started_at + timedelta(seconds=elapsed), elapsed,
                            f"{phase} ended after {format_duration(record.phases[phase])}"))
    total = record.duration_s
    word = VERDICT.get(record.result, "ERROR")
    other = record.phases.get("other")
    gap = f" ({format_duration(other)} outside the phases: policy load, lock)" if other else ""
    events.append(Event(record.finished_at, total, f"drill ended: {word}{gap}"))
    return events


def exceeded_of(record: Record) -> list[Exceeded]:
    found = []
    rto, rta = record.objectives.get("rto_s"), record.measured.get("rta_s", record.duration_s)
    if rto and rta > rto and record.result in ("pass", "breach"):  # only a verified recovery has a time
        found.append(Exceeded("RTO", rto, rta))
    rpo = record.objectives.get("rpo_s")
    if rpo and record.snapshot_time is not None:
        age = (record.started_at - record.snapshot_time).total_seconds()
        if age > rpo:
            found.append(Exceeded("RPO", rpo, age))  # the newest data the drill could restore was this old
    return found


def build(catalog: Catalog, state_dir: Path, policy: Policy, drill_id: str | None, now: datetime) -> PostMortem:
    record = choose_drill(catalog, policy.name, drill_id)
    problem = signature_problem(record, known_keys(catalog, state_dir))
    earlier = [r for r in catalog.records(policy.name, "drill") if r.finished_at < record.started_at]
    failed = [c for c in record.measured.get("checks", []) if isinstance(c, dict) and not c.get("passed", True)]
    return PostMortem(policy, record, "verified" if problem is None else f"NOT verified: {problem}",
                      timeline_of(record), exceeded_of(record), failed, earlier[::-1][:EARLIER_SHOWN], now)


def render(postmortem: PostMortem) -> str:
    env = markdown_templates()
    return env.get_template("postmortem.md.j2").render(pm=postmortem, r=postmortem.record, VERDICT=VERDICT)
