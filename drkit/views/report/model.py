"""The compliance report as data: per-policy RPO/RTO figures, caveats, sources and what is not shown.

`build_report` is pure: facts (read from the catalog by `gather.py`), the period and the
generation time in, a `Report` out. Every renderer (table, JSON, CSV, HTML, Prometheus) reads
this one model, so the formats can never disagree about a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from drkit.core.compliance import (
    CopyRun,
    DrillRun,
    Period,
    Projection,
    RecoveryPoint,
    RpoResult,
    RtoResult,
    Trend,
    Window,
    copy_points,
    coverage,
    growth_trend,
    rpo_analysis,
    rto_analysis,
    rto_crossing_date,
    verified_points,
)
from drkit.core.display import count_of, format_size
from drkit.core.durations import format_duration
from drkit.core.jsonshape import JsonDocument
from drkit.core.moments import parse_moment as parse_moment  # re-exported: `drkit report --since`
from drkit.engines.catalog import PointRow, SuspiciousMark
from drkit.evidence.records import Record, utc_text

FALLBACK_DRILL_DAYS = 30  # slot length, and drill interval for `drkit status`, without a drill schedule
MAX_LISTED = 5  # snapshot ids named in one caveat
MIN_TREND_SPAN = timedelta(days=1)  # backups closer together than this give no growth trend
FAR_EXTRAPOLATION = 10.0  # a projection beyond this many times the largest drill gets a caveat

NOT_SHOWN = (
    "Whether restored data is correct beyond what each drill checked (every file present with its "
    "size and type, content hashes against the backup-time manifest, the policy's application checks).",
    "Time to replace hosts, networks or applications: recovery times are measured restoring into a "
    "sandbox on the drill host.",
    "Manual restic snapshots removed from a repository before its last listing: drkit keeps evidence "
    "only of the snapshots it made.",
    "A snapshot deleted while it was the newest one: a recovery point counts from its completion on.",
    "Data outside the policies' targets, and policies not in the policies directory.",
)


# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceItem:
    """A record with the outcome of its signature check (`problem` None: the signature holds).

    Built from a parsed record or from its stored text, parsed only when a renderer needs fields
    beyond the kind: a JSON report over 100 policies then parses only the drills.
    """

    parsed: Record | None = None
    problem: str | None = None
    kind: str = ""
    text: str = ""

    def __post_init__(self) -> None:
        if self.parsed is not None and not self.kind:
            object.__setattr__(self, "kind", self.parsed.kind)

    @cached_property
    def record(self) -> Record:
        return self.parsed if self.parsed is not None else Record.model_validate_json(self.text)

    @property
    def verified(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class CopyFacts:
    """One copy repository of a policy: its passing, signature-verified copy runs (docs/repositories.md)."""

    name: str
    runs: tuple[CopyRun, ...] = ()
    first_run_at: datetime | None = None  # the first copy run into it, any result (None: never)


@dataclass(frozen=True)
class PolicyFacts:
    """Everything the report needs about one policy, as read from the catalog and policy file."""

    name: str
    tier: int
    owner: str | None
    rpo_s: float
    rto_s: float
    repository: str
    evidence_location: str | None = None
    drill_schedule: str | None = None
    drill_occurrences: tuple[datetime, ...] = ()  # covering the period; empty: no drill schedule
    points: tuple[PointRow, ...] = ()
    accept_partial: bool = True  # objectives.accept_partial (False in policies; True keeps hand-built facts whole)
    snapshot_count: int = 0
    listed_at: datetime | None = None
    drills: tuple[EvidenceItem, ...] = ()  # every drill record the catalog holds
    records: tuple[EvidenceItem, ...] = ()  # every record finished in the period
    sizes: tuple[tuple[datetime, int], ...] = ()  # successful backups finished in the period
    latest_size: tuple[datetime, int] | None = None  # newest successful backup before the period end
    first_evidence_at: datetime | None = None
    first_drill_at: datetime | None = None
    in_force_from: datetime | None = None  # objectives.in_force_from as declared in the policy
    suspicious: tuple[SuspiciousMark, ...] = ()  # backups the ransomware guardrail marked (docs/guard.md)
    latest_dump_bytes: int | None = None  # database dumps in the newest successful backup (None: not known)
    targets: tuple[str, ...] = ()  # what the policy protects, one label per target ("path /srv/shop")
    repository_name: str = "primary"  # the first repository's name (backups go there)
    copies: tuple[CopyFacts, ...] = ()  # the policy's other repositories


# --- outputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InForce:
    """When the objectives took effect, why then, and how much of the period that covers."""

    since: datetime | None  # None: no evidence and nothing declared: in force throughout
    source: str | None  # IN_FORCE_DECLARED or IN_FORCE_FIRST_EVIDENCE; None without `since`
    coverage: float  # share of the period in force, 0..1

    @property
    def any(self) -> bool:
        return self.coverage > 0


IN_FORCE_DECLARED = "objectives.in_force_from"
IN_FORCE_FIRST_EVIDENCE = "first evidence record"


@dataclass(frozen=True)
class RpoFigures:
    target_s: float
    attainment: float | None  # None: the objectives were in force at no time of the period
    breach_seconds: float
    worst_exposure_s: float | None  # None: unbounded (no restorable point at some moment), or not in force
    current_exposure_s: float | None
    breach_windows: list[Window]

    @property
    def met(self) -> bool | None:
        """Attained throughout; None when nothing was judged (the objectives were never in force)."""
        return None if self.attainment is None else self.attainment >= 1.0

    def within(self, exposure_s: float | None) -> bool | None:
        """An exposure against the RPO (None exposure: unbounded, over any target); None when
        nothing was judged."""
        if self.attainment is None:
            return None
        return exposure_s is not None and exposure_s <= self.target_s


@dataclass(frozen=True)
class GrowthFigures:
    bytes_per_day: float | None
    latest_bytes: int | None
    latest_at: datetime | None
    samples: int
    rto_crossing_at: datetime | None  # when the projected full RTO exceeds the RTO at this trend


@dataclass(frozen=True)
class EvidenceFigures:
    records: int
    verified: int
    first_at: datetime | None
    by_kind: dict[str, int]


@dataclass(frozen=True)
class DrillCheck:
    """One check a drill ran on the restored data, as its evidence payload records it."""

    name: str
    result: str  # pass, fail (the data is wrong), error (the check could not run)
    detail: str = ""


@dataclass(frozen=True)
class DrillPoint:
    """One drill as charts and lists show it: what an auditor asks of it is what it checked."""

    started_at: datetime
    rta_s: float
    result: str
    snapshot_id: str
    verify: str = ""  # the verification mode (full, sample:N%)
    files_restored: int = 0
    bytes_restored: int = 0
    manifest_authenticated: bool | None = None
    checks: tuple[DrillCheck, ...] = ()


def drill_point(record: Record, run: DrillRun) -> DrillPoint:
    """A drill record for the report: its timing and verdict plus the checks its payload lists
    (read leniently: a record that predates a field shows it empty rather than failing the report;
    `drkit evidence verify` is where payloads are held to their schema)."""
    measured = record.measured or {}
    checks = tuple(DrillCheck(str(c.get("name", "?")), _check_result(c), str(c.get("detail") or ""))
                   for c in measured.get("checks") or [] if isinstance(c, dict))
    authenticated = measured.get("manifest_authenticated")
    return DrillPoint(run.started_at, run.rta_s, record.result, run.snapshot_id, verify=str(measured.get("verify") or ""),
                      files_restored=int(measured.get("files_restored") or record.files or 0),
                      bytes_restored=run.bytes_restored,
                      manifest_authenticated=authenticated if isinstance(authenticated, bool) else None,
                      checks=checks)


def _check_result(check: dict) -> str:
    if check.get("passed"):
        return "pass"
    return "error" if check.get("error") else "fail"


@dataclass(frozen=True)
class RepositoryRpo:
    """The policy's RPO figures measured on one of its repositories: the first's are the policy's
    own; a copy's recovery points count from the copy run that brought them (docs/repositories.md)."""

    name: str
    copy_of: str | None  # None: the first repository
    rpo: RpoFigures
    last_copy_at: datetime | None = None  # the newest passing copy run into it (copies only)


@dataclass
class PolicyReport:
    name: str
    tier: int
    owner: str | None
    rpo: RpoFigures
    verified_rpo: RpoFigures
    rto: RtoResult
    growth: GrowthFigures
    evidence: EvidenceFigures
    caveats: list[str]
    sources: list[str]
    not_shown: list[str]
    in_force: InForce = InForce(None, None, 1.0)
    targets: list[str] = field(default_factory=list)
    projection_basis: str | None = None  # what the projected full RTO rests on, in words
    points: list[RecoveryPoint] = field(default_factory=list, repr=False)
    drills: list[DrillPoint] = field(default_factory=list, repr=False)
    items: list[EvidenceItem] = field(default_factory=list, repr=False)
    suspicious: list[SuspiciousMark] = field(default_factory=list)  # marked backups finished in the period
    repositories: list[RepositoryRpo] = field(default_factory=list)

    @property
    def rpo_met(self) -> bool:
        """Objectives not in force during the period cannot be missed in it."""
        return not self.in_force.any or bool(self.rpo.met)

    @property
    def rto_met(self) -> bool:
        if not self.in_force.any:
            return True
        return self.rto.attainment == 1.0 and not self.rto.projected_exceeds_rto


@dataclass
class Report(JsonDocument, schema="drkit.report/1"):
    period: Period
    generated_at: datetime
    policies: list[PolicyReport]
    notes: list[str] = field(default_factory=list)
    not_shown: list[str] = field(default_factory=lambda: list(NOT_SHOWN))

    def json_fields(self) -> dict:
        from drkit.views.report.as_json import report_dict  # the JSON renderer owns the shape

        return report_dict(self)


# --- period ---------------------------------------------------------------------------------


def report_period(since: datetime | None, until: datetime | None, now: datetime,
                  default_days: int = 30) -> tuple[Period, list[str]]:
    """The period [since, until): default the last `default_days` up to now. An end in the future
    is moved to `now`: the report measures, it does not forecast."""
    notes: list[str] = []
    end = until or now
    if end > now:
        notes.append(f"the requested period end {utc_text(end)} lies in the future; the report ends at "
                     f"its generation time {utc_text(now)}")
        end = now
    start = since or end - timedelta(days=default_days)
    if start >= end:
        raise ValueError(f"empty period: --since {utc_text(start)} is not before the period end {utc_text(end)}")
    return Period(start, end), notes


def start_at_in_force(period: Period, in_force_from: list[datetime | None]) -> tuple[Period, list[str]]:
    """The default period (no --since) starts no earlier than the reported objectives came into
    force: a new policy's report shows the days it was bound, not weeks of grey before them. Kept
    as is when some policy has no in-force date (it is in force throughout) or none is inside."""
    if not in_force_from or any(f is None for f in in_force_from):
        return period, []
    start = min(f for f in in_force_from if f is not None)
    if start <= period.since or start >= period.until:
        return period, []
    return Period(start, period.until), [f"the period starts at {utc_text(start)}, when the objectives of the "
                                         "reported policies came into force (--since sets another start)"]


# --- building -------------------------------------------------------------------------------


def build_report(facts: list[PolicyFacts], period: Period, generated_at: datetime,
                 notes: list[str] | None = None) -> Report:
    return Report(period=period, generated_at=generated_at,
                  policies=[build_policy(f, period, generated_at) for f in facts], notes=list(notes or []))


def build_policy(facts: PolicyFacts, period: Period, now: datetime) -> PolicyReport:
    """Figures for one policy. Measured at the period end, so a report over a past period is the
    same whenever (and on whichever host) it is generated."""
    caveats: list[str] = []
    in_force = in_force_of(facts, period, caveats)
    start = in_force.since
    points = _recovery_points(facts, now, caveats)
    if facts.listed_at is not None and facts.listed_at < period.until:
        caveats.append(f"the repository was last listed at {utc_text(facts.listed_at)}: snapshots made outside drkit "
                       "after that are not counted (run: drkit report --refresh)")
    rpo = _rpo_figures(rpo_analysis(points, period, facts.rpo_s, now=period.until, in_force_from=start), "RPO",
                       caveats)

    usable = [d for d in facts.drills if d.record.finished_at <= period.until]
    unsigned = [d for d in usable if not d.verified]
    if unsigned:
        caveats.append(f"{count_of(len(unsigned), 'drill record')} failing signature verification, not counted "
                       f"(first: {unsigned[0].problem})")
    trusted = [d for d in usable if d.verified]
    runs = [drill_run(d.record) for d in trusted]
    verified = _rpo_figures(rpo_analysis(verified_points(runs), period, facts.rpo_s, now=period.until,
                                         in_force_from=start), "verified RPO", None)

    repo_bytes = facts.latest_size[1] if facts.latest_size else None
    rto = rto_analysis(runs, period, facts.rto_s, list(facts.drill_occurrences), now=period.until,
                       repo_bytes=repo_bytes, in_force_from=start, dump_bytes=facts.latest_dump_bytes)
    _rto_caveats(facts, rto, runs, period, in_force, caveats)

    growth = _growth(facts, rto, caveats)
    evidence = _evidence(facts, caveats)
    drills = [drill_point(d.record, r) for d, r in zip(trusted, runs) if period.since <= r.started_at < period.until]
    suspicious = _suspicious(facts, period, caveats)
    return PolicyReport(
        name=facts.name, tier=facts.tier, owner=facts.owner, rpo=rpo, verified_rpo=verified, rto=rto,
        growth=growth, evidence=evidence, caveats=caveats, sources=_sources(facts),
        not_shown=_not_shown(facts, period, in_force), in_force=in_force, targets=list(facts.targets),
        projection_basis=projection_basis(rto.projection), points=points, drills=drills,
        items=list(facts.records), suspicious=suspicious,
        repositories=_repositories(facts, rpo, period, start))


def _suspicious(facts: PolicyFacts, period: Period, caveats: list[str]) -> list[SuspiciousMark]:
    """Backups of the period the ransomware guardrail marked; each one also a caveat, so every
    format (table, CSV, HTML) shows it next to the figures it may have spoiled."""
    marks = [m for m in facts.suspicious if period.since <= m.finished_at < period.until]
    for m in marks:
        state = "accepted with forget --accept-suspicious" if m.accepted else "not reviewed: forget is blocked"
        caveats.append(f"suspicious backup {m.snapshot_id[:8]} at {utc_text(m.finished_at)}, {state}: "
                       f"{'; '.join(m.reasons) or 'see its backup evidence'} (docs/guard.md)")
    return marks


def _repositories(facts: PolicyFacts, rpo: RpoFigures, period: Period, start: datetime | None) -> list[RepositoryRpo]:
    """The first repository's figures (the policy's) and each copy's, measured the same way."""
    rows = [RepositoryRpo(facts.repository_name, None, rpo)]
    for copy in facts.copies:
        runs = [run for run in copy.runs if run.finished_at <= period.until]
        # Like a policy, a copy is not blamed for the time before drkit first copied into it; one
        # never copied into is judged from the policy's own start (its exposure is unbounded).
        since = max(start, copy.first_run_at) if start and copy.first_run_at else (copy.first_run_at or start)
        figures = _rpo_figures(rpo_analysis(copy_points(runs), period, facts.rpo_s, now=period.until,
                                            in_force_from=since), f"RPO of {copy.name}", None)
        rows.append(RepositoryRpo(copy.name, facts.repository_name, figures,
                                  max((run.finished_at for run in runs), default=None)))
    return rows


def in_force_of(facts: PolicyFacts, period: Period, caveats: list[str]) -> InForce:
    """The declared `objectives.in_force_from`, else the policy's first evidence record: a policy
    is not blamed for the time before drkit knew it. With neither (no evidence at all) the
    objectives are in force throughout: missing evidence counts against compliance."""
    if facts.in_force_from is not None:
        since, source = facts.in_force_from, IN_FORCE_DECLARED
    elif facts.first_evidence_at is not None:
        since, source = facts.first_evidence_at, IN_FORCE_FIRST_EVIDENCE
    else:
        return InForce(None, None, 1.0)
    share = coverage(period, since)
    if share == 0:
        caveats.append(f"the objectives are in force only from {utc_text(since)} ({source}), after this period: "
                       "there is nothing to attain (attainment null)")
    return InForce(since, source, share)


def drill_run(record: Record) -> DrillRun:
    """A drill record as the compliance math sees it: passed = data restored and checked (pass or
    breach); throughput from the measured restore+verify phase."""
    measured = record.measured or {}
    bytes_restored = measured.get("bytes_restored") or record.bytes or 0
    return DrillRun(
        started_at=record.started_at, finished_at=record.finished_at, passed=record.result in ("pass", "breach"),
        bytes_restored=int(bytes_restored), restore_verify_s=float(measured.get("restore_verify_s") or 0.0),
        snapshot_id=record.snapshot_id or "", snapshot_time=record.snapshot_time,
        restore_first_byte_s=_seconds(measured.get("restore_first_byte_s")),
        db_load_s=sum(s for phase, s in (record.phases or {}).items() if phase.startswith("db_load:")),
        dump_bytes=int(measured.get("database_bytes") or 0))


def _seconds(value: object) -> float | None:
    """A measured duration, or None when the record did not measure it (older drkit)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _recovery_points(facts: PolicyFacts, now: datetime, caveats: list[str]) -> list[RecoveryPoint]:
    """Every snapshot as a recovery point; ones captured after `now` are clock skew, not data."""
    if facts.listed_at is None:
        caveats.append("the repository's snapshots were never listed on this host; only snapshots known from "
                       "drkit evidence count (run: drkit report --refresh)")
    future = sorted((p for p in facts.points if p.time > now), key=lambda p: p.time)
    if future:
        named = ", ".join(f"{p.id[:8]} at {utc_text(p.time)}" for p in future[:MAX_LISTED])
        caveats.append(f"clock skew: {count_of(len(future), 'snapshot')} captured in the future of the report time, "
                       f"ignored: {named}" + (" …" if len(future) > MAX_LISTED else ""))
    kept = [p for p in facts.points if p.time <= now]
    partial = [p for p in kept if p.partial]
    if partial and not facts.accept_partial:
        kept = [p for p in kept if not p.partial]
        caveats.append(f"{count_of(len(partial), 'partial snapshot')} (files unreadable at backup time) not counted "
                       "as recovery points: " + ", ".join(p.id[:8] for p in partial[:MAX_LISTED])
                       + " (objectives.accept_partial: true counts them)")
    elif partial:
        caveats.append(f"{count_of(len(partial), 'partial snapshot')} counted as recovery points "
                       "(objectives.accept_partial), lacking files that could not be read at backup time")
    manual = [p for p in kept if p.completion is None]
    if manual:
        caveats.append(f"{count_of(len(manual), 'snapshot')} without drkit backup evidence (made with plain restic or "
                       "elsewhere): each counts from its snapshot time")
    gone = [p for p in kept if not p.listed and facts.listed_at is not None]
    if gone:
        caveats.append(f"{count_of(len(gone), 'snapshot')} known from drkit evidence but no longer in the repository "
                       "(removed by retention?): each counts as a recovery point from its completion on")
    return [RecoveryPoint(capture=p.time, completion=p.completion, snapshot_id=p.id) for p in kept]


def _rpo_figures(result: RpoResult, label: str, caveats: list[str] | None) -> RpoFigures:
    """Infinite exposures become None; the caveat says why."""
    unbounded = result.worst_exposure_s is not None and math.isinf(result.worst_exposure_s)
    worst = None if unbounded else result.worst_exposure_s
    current = None if math.isinf(result.current_exposure_s) else result.current_exposure_s
    if caveats is not None:
        if unbounded:
            caveats.append(f"{label}: no recovery point was restorable during part of the period: worst exposure "
                           "is unbounded (null); that time counts as breach")
        if current is None:
            caveats.append(f"{label}: no recovery point restorable at the period end: current exposure is "
                           "unbounded (null)")
    return RpoFigures(target_s=result.target_s, attainment=result.attainment, breach_seconds=result.breach_seconds,
                      worst_exposure_s=worst, current_exposure_s=current, breach_windows=list(result.breach_windows))


def _rto_caveats(facts: PolicyFacts, rto: RtoResult, runs: list[DrillRun], period: Period, in_force: InForce,
                 caveats: list[str]) -> None:
    if not facts.drill_schedule:
        anchor = "the period start" if in_force.coverage == 1 else "the start of the in-force time"
        caveats.append(f"no drill schedule: RTO attainment uses {FALLBACK_DRILL_DAYS}-day slots from {anchor}")
    if rto.attainment is None and in_force.any:
        caveats.append("no drill slot closed within the period and none was met: RTO attainment is undefined (null)")
    if not any(r.passed and period.since <= r.started_at < period.until for r in runs):
        caveats.append("no passing drill started in the period: recovery time percentiles are null")
    if rto.last_pass_at is None:
        caveats.append("no drill has ever passed: recovery within the RTO is not demonstrated")
    elif rto.projection is None:
        caveats.append("projected full RTO unknown: no passing drill measured restore throughput, "
                       "or no backup evidence gives the repository size")
    else:
        _projection_caveats(rto.projection, rto.target_s, caveats)


def _projection_caveats(projection: Projection, rto_s: float, caveats: list[str]) -> None:
    if projection.seconds > rto_s:
        caveats.append(f"projected full RTO {format_duration(projection.seconds)} exceeds the RTO "
                       f"{format_duration(rto_s)}: restoring the whole current data set would take too long, "
                       "whatever the last drill measured")
    if projection.extrapolation > FAR_EXTRAPOLATION:
        caveats.append(f"projected full RTO extrapolates {projection.extrapolation:.0f}x beyond the largest drill "
                       f"({format_size(projection.largest_drill_bytes)}): only a drill of the full data set "
                       "measures it")
    if not projection.first_byte_measured:
        caveats.append("projected full RTO: some drills used predate drkit's time-to-first-byte measurement; "
                       "their restic start-up counts as data time, which overestimates a large restore")


def projection_basis(projection: Projection | None) -> str | None:
    """What the projection rests on, for people: method, drills, model and the spread."""
    if projection is None:
        return None
    model = projection.model
    rate = f"{format_size(1 / model.s_per_byte)}/s"
    sizes = format_size(projection.smallest_drill_bytes)
    if projection.smallest_drill_bytes != projection.largest_drill_bytes:
        sizes += f" to {format_size(projection.largest_drill_bytes)}"
    drills = f"{projection.drills} drill{'s' if projection.drills > 1 else ''} of {sizes}"
    basis = f"least-squares fit over {drills}" if projection.method == "fit" else \
        f"{drills}, each split at the restore's first byte into fixed and data time"
    spread = "" if projection.low_s == projection.high_s else \
        f"; {format_duration(projection.low_s)} to {format_duration(projection.high_s)} across the drills"
    load = "" if not projection.database_load_s else \
        f" + {format_duration(projection.database_load_s)} loading {format_size(projection.dump_bytes)} of database dumps"
    return (f"{basis}: {format_duration(model.fixed_s)} fixed + {format_size(projection.repo_bytes)} at {rate}"
            f"{load}{spread}")


def _growth(facts: PolicyFacts, rto: RtoResult, caveats: list[str]) -> GrowthFigures:
    sizes = list(facts.sizes)
    spread = (sizes[-1][0] - sizes[0][0]) if sizes else timedelta(0)
    trend: Trend | None = growth_trend(sizes) if spread >= MIN_TREND_SPAN else None
    crossing = None
    if trend is None:
        caveats.append("growth trend unknown: it needs successful drkit backups in the period spread over at "
                       "least a day (a slope from minutes apart would be noise)")
    elif rto.projection is not None and facts.latest_size is not None:
        crossing = rto_crossing_date(rto.projection.model, trend, facts.latest_size, facts.rto_s,
                                     rto.projection.dump_bytes)
    latest_at, latest_bytes = facts.latest_size if facts.latest_size else (None, None)
    return GrowthFigures(bytes_per_day=trend.bytes_per_day if trend else None, latest_bytes=latest_bytes,
                         latest_at=latest_at, samples=len(facts.sizes), rto_crossing_at=crossing)


def _evidence(facts: PolicyFacts, caveats: list[str]) -> EvidenceFigures:
    bad = [i for i in facts.records if not i.verified]
    if bad:
        caveats.append(f"{len(bad)} of {count_of(len(facts.records), 'evidence record')} in the period failing "
                       f"signature verification (first: {bad[0].problem})")
    return EvidenceFigures(records=len(facts.records), verified=len(facts.records) - len(bad),
                           first_at=facts.first_evidence_at, by_kind=_by_kind(facts.records))


def _by_kind(items: tuple[EvidenceItem, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    return dict(sorted(counts.items()))


def _sources(facts: PolicyFacts) -> list[str]:
    sources = [f"restic repository {facts.repository}: {count_of(facts.snapshot_count, 'snapshot')} in the local listing"]
    offsite = f"; offsite copy {facts.evidence_location}" if facts.evidence_location else ""
    sources.append(f"drkit evidence records in the local catalog{offsite}")
    if facts.drill_schedule:
        sources.append(f"drill schedule '{facts.drill_schedule}' (drill slots)")
    return sources


def _not_shown(facts: PolicyFacts, period: Period, in_force: InForce) -> list[str]:
    lines = []
    if in_force.since is not None and in_force.since > period.since:
        lines.append(f"the time before {utc_text(in_force.since)}, when the objectives came into force "
                     f"({in_force.source}): not counted for or against attainment")
    if facts.first_evidence_at is None:
        lines.append("no drkit evidence at all: completion times are snapshot times")
    elif facts.first_evidence_at > period.since:
        lines.append(f"no drkit evidence before {utc_text(facts.first_evidence_at)}")
    if facts.first_drill_at is None:
        lines.append("no drill evidence at all")
    elif facts.first_drill_at > period.since:
        lines.append(f"no drill evidence before {utc_text(facts.first_drill_at)}")
    return lines


# --- exposure over time (charts) --------------------------------------------------------------


def exposure_series(points: list[RecoveryPoint], period: Period) -> list[tuple[datetime, float | None]]:
    """E(t) as a polyline over the period: (t, seconds) vertices, None where nothing is restorable.

    E grows with slope 1 between completions and drops when a newer capture completes, so the
    vertices are the period ends and both sides of each drop.
    """
    events = sorted((p.completed_at, p.capture) for p in points)
    newest: datetime | None = None
    series: list[tuple[datetime, float | None]] = []

    def value(t: datetime) -> float | None:
        return None if newest is None else (t - newest).total_seconds()

    for completed, capture in events:
        if completed > period.since:
            break
        newest = capture if newest is None else max(newest, capture)
    series.append((period.since, value(period.since)))
    for completed, capture in events:
        if completed <= period.since or completed >= period.until:
            continue
        if newest is not None and capture <= newest:
            continue
        series.append((completed, value(completed)))
        newest = capture
        series.append((completed, value(completed)))
    series.append((period.until, value(period.until)))
    return series
