"""Compliance math (docs/reports.md): RPO exposure, drill slots, RTA statistics, projections.

Pure functions of their inputs: no I/O, and time is always passed in, never read from the clock,
so every report can be recomputed from evidence alone and every number is unit-testable.
All datetimes are timezone-aware UTC; durations are float seconds.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecoveryPoint:
    """A restorable snapshot: data as of `capture`, usable only from `completion` on.

    `completion` None means unknown and is taken as `capture`.
    """

    capture: datetime
    completion: datetime | None = None
    snapshot_id: str = ""

    @property
    def completed_at(self) -> datetime:
        """When the point became restorable; never before its capture (clamped: a completion
        earlier than the capture can only come from clock skew or bad evidence)."""
        if self.completion is None:
            return self.capture
        return max(self.capture, self.completion)


@dataclass(frozen=True)
class DrillRun:
    """One restore drill. `passed` means restored data passed every check (result pass or
    breach), whatever the time it took."""

    started_at: datetime
    finished_at: datetime
    passed: bool
    bytes_restored: int = 0
    restore_verify_s: float = 0.0
    snapshot_id: str = ""
    snapshot_time: datetime | None = None
    restore_first_byte_s: float | None = None  # restore's time to first byte; None: not measured (older drkit)
    db_load_s: float = 0.0   # the drill's db_load phases: loading the restored dumps into throw-away servers
    dump_bytes: int = 0      # the size of those dumps; 0: not measured (no databases, or an older drkit)

    @property
    def rta_s(self) -> float:
        """Recovery time actual: from the request to the moment data passed every check."""
        return (self.finished_at - self.started_at).total_seconds()

    def meets(self, rto_s: float) -> bool:
        return self.passed and self.rta_s <= rto_s

    @property
    def load_s(self) -> float:
        """The database load time a projection scales with the dumps' size: only when the drill
        measured both (an older drill's load time stays in the fixed part)."""
        return self.db_load_s if self.dump_bytes > 0 else 0.0


@dataclass(frozen=True)
class Period:
    """The half-open reporting period [since, until)."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("period bounds must be timezone-aware (UTC)")
        if self.until <= self.since:
            raise ValueError(f"empty period: until ({self.until}) must be after since ({self.since})")

    @property
    def seconds(self) -> float:
        return (self.until - self.since).total_seconds()


def in_force_part(period: Period, in_force_from: datetime | None) -> Period | None:
    """The part of `period` in which the objectives were in force (from `in_force_from` on; None:
    always); None when they came into force only at or after the period's end.

    Time before a policy existed cannot breach it: it is left out of every attainment, never
    counted as met either (docs/reports.md, "In force").
    """
    if in_force_from is None or in_force_from <= period.since:
        return period
    if in_force_from >= period.until:
        return None
    return Period(in_force_from, period.until)


def coverage(period: Period, in_force_from: datetime | None) -> float:
    """Share of `period` in which the objectives were in force, 0..1."""
    part = in_force_part(period, in_force_from)
    return 0.0 if part is None else part.seconds / period.seconds


@dataclass(frozen=True)
class Window:
    """A maximal interval [start, end) during which exposure exceeded the RPO."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Slot:
    """One drill slot [start, end) between consecutive drill-schedule occurrences."""

    start: datetime
    end: datetime


# --- RPO ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RpoResult:
    """`attainment` and `worst_exposure_s` are None when the objectives were in force at no time
    of the period: there is nothing to attain."""

    target_s: float
    attainment: float | None
    breach_seconds: float
    worst_exposure_s: float | None
    current_exposure_s: float
    breach_windows: list[Window] = field(default_factory=list)
    ignored_future: list[RecoveryPoint] = field(default_factory=list)


def exposure_at(points: Iterable[RecoveryPoint], t: datetime) -> float:
    """E(t) = t - newest capture among points completed at or before t; inf when none is.

    Points captured before any period count: old data is still data you can restore.
    """
    newest: datetime | None = None
    for point in points:
        if point.completed_at <= t and (newest is None or point.capture > newest):
            newest = point.capture
    return math.inf if newest is None else (t - newest).total_seconds()


def rpo_analysis(
    points: Iterable[RecoveryPoint], period: Period, rpo_s: float, now: datetime | None = None,
    in_force_from: datetime | None = None,
) -> RpoResult:
    """Measure RPO breach time, windows and worst exposure over `period` in O(n log n).

    Between completions the newest restorable capture c* is constant, so E(t) = t - c* grows
    linearly and each such segment [a, b) is in breach exactly on (max(a, c* + RPO), b).
    Points captured after `now` (or `period.until`) are ignored and returned in
    `ignored_future`: they can only come from a skewed clock, and counting them would hide a
    real exposure. Only the part of the period from `in_force_from` on is measured; the current
    exposure is E(now) whatever it is.
    """
    ref = now if now is not None else period.until
    kept: list[RecoveryPoint] = []
    future: list[RecoveryPoint] = []
    for point in points:
        (future if point.capture > ref else kept).append(point)
    current = exposure_at(kept, ref)
    span = in_force_part(period, in_force_from)
    if span is None:
        return RpoResult(target_s=rpo_s, attainment=None, breach_seconds=0.0, worst_exposure_s=None,
                         current_exposure_s=current, ignored_future=future)
    windows, worst = _breach_windows(kept, span, rpo_s)
    breach = sum((w.end - w.start for w in windows), timedelta()).total_seconds()
    return RpoResult(
        target_s=rpo_s,
        attainment=max(0.0, 1.0 - breach / span.seconds),
        breach_seconds=breach,
        worst_exposure_s=worst,
        current_exposure_s=current,
        breach_windows=windows,
        ignored_future=future,
    )


def _breach_windows(kept: list[RecoveryPoint], period: Period, rpo_s: float) -> tuple[list[Window], float]:
    """Maximal windows of E(t) > RPO within `period`, and the sup of E over it."""
    events = sorted((p.completed_at, p.capture) for p in kept)
    rpo = timedelta(seconds=rpo_s)
    windows: list[Window] = []
    worst = 0.0

    def close_segment(start: datetime, end: datetime, newest: datetime | None) -> None:
        nonlocal worst
        if end <= start:
            return
        if newest is None:
            worst = math.inf
            breach_from = start
        else:
            worst = max(worst, (end - newest).total_seconds())  # sup of E on [start, end)
            breach_from = max(start, newest + rpo)
        if breach_from >= end:
            return
        if windows and windows[-1].end == breach_from:
            windows[-1] = Window(windows[-1].start, end)
        else:
            windows.append(Window(breach_from, end))

    newest: datetime | None = None
    segment_start = period.since
    for completed, capture in events:
        if completed >= period.until:
            break
        if newest is not None and capture <= newest:
            continue  # an older capture completing late changes nothing
        if completed > period.since:
            close_segment(segment_start, completed, newest)
            segment_start = completed
        newest = capture
    close_segment(segment_start, period.until, newest)
    return windows, worst


def verified_points(drills: Iterable[DrillRun]) -> list[RecoveryPoint]:
    """Recovery points a passing drill actually restored, usable from the drill's finish.

    Feeding these to `rpo_analysis` gives the verified RPO: the data we would lose relying only
    on what has been tested.
    """
    return [
        RecoveryPoint(capture=d.snapshot_time, completion=d.finished_at, snapshot_id=d.snapshot_id)
        for d in drills
        if d.passed and d.snapshot_time is not None
    ]


# --- copies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CopyRun:
    """One passing copy run into a copy repository: the snapshots it added (id, capture time),
    restorable from that repository from the run's finish on (docs/repositories.md)."""

    finished_at: datetime
    copied: tuple[tuple[str, datetime], ...] = ()


def copy_points(runs: Iterable[CopyRun]) -> list[RecoveryPoint]:
    """A copy repository's recovery points: each copied snapshot keeps its capture time (the data
    is as old as the backup's) but counts only from the copy's finish, so a copy that lags shows
    as exposure of its own. Feed them to `rpo_analysis` for the copy's RPO figures."""
    return [RecoveryPoint(capture=capture, completion=run.finished_at, snapshot_id=snapshot_id)
            for run in runs for snapshot_id, capture in run.copied]


# --- RTO ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RtoResult:
    target_s: float
    attainment: float | None
    slots_counted: int
    slots_met: int
    rta_p50_s: float | None
    rta_p95_s: float | None
    rta_max_s: float | None
    last_pass_at: datetime | None
    last_pass_age_s: float | None
    projected_full_rto_s: float | None
    projected_exceeds_rto: bool | None
    projection: Projection | None = None


def drill_slots(occurrences: Sequence[datetime], period: Period, fallback_days: int = 30) -> list[Slot]:
    """Slots [o_i, o_i+1) overlapping the period: the one containing `since` (it may start
    before it) and every slot starting before `until` (the last may still be open).

    `occurrences` must cover the period (one at or before `since`, one at or after `until`);
    without a drill schedule (empty) slots are `fallback_days` long, anchored at `since`.
    """
    if not occurrences:
        length = timedelta(days=fallback_days)
        count = math.ceil((period.until - period.since) / length)
        return [Slot(period.since + k * length, period.since + (k + 1) * length) for k in range(count)]
    times = sorted(set(occurrences))
    if times[0] > period.since or times[-1] < period.until:
        raise ValueError(
            f"drill occurrences {times[0]}..{times[-1]} do not cover the period "
            f"{period.since}..{period.until}"
        )
    return [
        Slot(start, end)
        for start, end in zip(times, times[1:])
        if end > period.since and start < period.until
    ]


def rto_analysis(
    drills: Sequence[DrillRun],
    period: Period,
    rto_s: float,
    occurrences: Sequence[datetime],
    now: datetime | None = None,
    repo_bytes: int | None = None,
    in_force_from: datetime | None = None,
    dump_bytes: int | None = None,
) -> RtoResult:
    """RTO attainment over drill slots, RTA statistics, and the projected full-size RTO.

    A slot is met when a drill started in it passed within the RTO. A slot still open at
    `period.until` counts only if met, so a report never blames a slot that can still be met;
    likewise a slot that began before `in_force_from` (the schedule gave the new objectives no
    drill in it). Slots and RTA statistics cover only the in-force part of the period (fallback
    slots are anchored at its start). The projection uses the passing drills: a small drill
    that met the RTO says nothing about restoring the whole repository.
    """
    ref = now if now is not None else period.until
    span = in_force_part(period, in_force_from)
    slots = drill_slots(occurrences, span) if span is not None else []
    meeting_starts = sorted(d.started_at for d in drills if d.meets(rto_s))
    met = counted = 0
    for slot in slots:
        i = bisect_left(meeting_starts, slot.start)
        slot_met = i < len(meeting_starts) and meeting_starts[i] < slot.end
        blameable = slot.end <= period.until and (in_force_from is None or slot.start >= in_force_from)
        met += slot_met
        counted += slot_met or blameable

    rtas = [d.rta_s for d in drills if d.passed and span is not None and span.since <= d.started_at < span.until]
    passes = sorted((d for d in drills if d.passed and d.finished_at <= ref), key=lambda d: d.finished_at)
    last = passes[-1] if passes else None
    projection = project_full_rto(passes, repo_bytes, dump_bytes)
    projected = projection.seconds if projection is not None else None
    return RtoResult(
        target_s=rto_s,
        attainment=met / counted if counted else None,
        slots_counted=counted,
        slots_met=met,
        rta_p50_s=percentile(rtas, 50),
        rta_p95_s=percentile(rtas, 95),
        rta_max_s=max(rtas, default=None),
        last_pass_at=last.finished_at if last else None,
        last_pass_age_s=(ref - last.finished_at).total_seconds() if last else None,
        projected_full_rto_s=projected,
        projected_exceeds_rto=None if projected is None else projected > rto_s,
        projection=projection,
    )


def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank percentile: x_ceil(p/100 * n) of the sorted values x_1..x_n (x_1 for p=0).

    Nearest rank always returns a measured value, never an interpolated time no drill took.
    None for no values.
    """
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(p * len(ordered) / 100))
    return float(ordered[rank - 1])


# --- projected full RTO (docs/reports.md, "Projected full RTO") -----------------------------------

FIT_DRILLS = 10  # newest passing drills a projection rests on: older ones may have run on other hardware
MIN_FIT_SPREAD = 4.0  # largest / smallest drill size a fitted slope needs to be more than timing noise


@dataclass(frozen=True)
class RestoreModel:
    """Recovery time as a fixed cost (restic start-up, index loading, first pack, sandbox, server
    start, checks) plus bytes at a measured throughput, plus the database dumps' bytes at their
    measured load rate (docs/databases.md). Dividing the whole restore time by the bytes instead
    makes a small drill, which is mostly start-up, predict a large restore several times too slow;
    loading a dump into a server is far slower per byte than restoring it, and grows with the
    dumps, not with the files."""

    fixed_s: float
    s_per_byte: float
    load_s_per_dump_byte: float = 0.0

    def seconds(self, nbytes: float, dump_bytes: float = 0.0) -> float:
        return self.fixed_s + nbytes * self.s_per_byte + self.load_s(dump_bytes)

    def load_s(self, dump_bytes: float) -> float:
        return dump_bytes * self.load_s_per_dump_byte


@dataclass(frozen=True)
class Projection:
    """The projected full RTO and what it rests on.

    `method` "fit": least squares of RTA over bytes across the drills (their sizes differ enough);
    "split": each drill's own split into fixed cost and data time, pooled (`pooled_model`).
    `low_s`..`high_s` spans that estimate and what each drill used would project on its own: the
    spread between runs, not a confidence interval.
    """

    seconds: float
    low_s: float
    high_s: float
    method: Literal["fit", "split"]
    model: RestoreModel
    drills: int
    smallest_drill_bytes: int
    largest_drill_bytes: int
    repo_bytes: int
    first_byte_measured: bool  # every drill used measured its time to first byte (older records did not)
    dump_bytes: int = 0        # the database dumps the load part is projected for (0: no databases)

    @property
    def database_load_s(self) -> float:
        """The part of `seconds` that loads the database dumps."""
        return self.model.load_s(self.dump_bytes)

    @property
    def extrapolation(self) -> float:
        """How many times the largest drill's data the projection covers."""
        return self.repo_bytes / self.largest_drill_bytes


def drill_model(drill: DrillRun) -> RestoreModel | None:
    """Fixed cost and throughput measured by one drill: the bytes flowed during restore+verify
    after the restore's first byte; everything else the drill took is fixed. None without a
    throughput.

    A drill that did not measure its first byte (recorded by an older drkit) counts restic's
    start-up as data time, which overestimates large restores.
    """
    if drill.bytes_restored <= 0 or drill.restore_verify_s <= 0:
        return None
    before_data = min(max(drill.restore_first_byte_s or 0.0, 0.0), drill.restore_verify_s)
    data_s = drill.restore_verify_s - before_data
    if data_s <= 0:
        return None
    # Clamped: data time longer than the whole drill is inconsistent evidence, not a credit.
    load_rate = drill.load_s / drill.dump_bytes if drill.dump_bytes > 0 else 0.0
    return RestoreModel(fixed_s=max(0.0, drill.rta_s - data_s - drill.load_s), s_per_byte=data_s / drill.bytes_restored,
                        load_s_per_dump_byte=load_rate)


def fitted_model(samples: Sequence[tuple[int, float]]) -> RestoreModel | None:
    """Least-squares line RTA = fixed + bytes * s_per_byte over (bytes, RTA) samples.

    None unless the sizes span MIN_FIT_SPREAD (closer sizes make the slope timing noise) and the
    line is physical (positive slope, non-negative fixed cost).
    """
    sizes = [b for b, _ in samples]
    if len(samples) < 2 or min(sizes) <= 0 or max(sizes) < MIN_FIT_SPREAD * min(sizes):
        return None
    slope, intercept = least_squares([float(b) for b in sizes], [s for _, s in samples])
    if slope <= 0 or intercept < 0:
        return None
    return RestoreModel(fixed_s=intercept, s_per_byte=slope)


def pooled_model(drills: Sequence[DrillRun]) -> RestoreModel | None:
    """The drills' own splits pooled: the median fixed cost, and all their data bytes over all their
    data seconds (larger drills weigh more, and one drill slowed by a busy host weighs less).

    Drills that measured their first byte are used alone when there are any: an older record
    counts restic's start-up as data time and would make the throughput look slower than it is.
    """
    timed = [d for d in drills if d.restore_first_byte_s is not None] or list(drills)
    models = [(d.bytes_restored, m) for d in timed if (m := drill_model(d)) is not None]
    if not models:
        return None
    fixed = sorted(m.fixed_s for _, m in models)
    middle = len(fixed) // 2
    median = fixed[middle] if len(fixed) % 2 else (fixed[middle - 1] + fixed[middle]) / 2
    data_s = sum(b * m.s_per_byte for b, m in models)
    return RestoreModel(fixed_s=median, s_per_byte=data_s / sum(b for b, _ in models), load_s_per_dump_byte=load_rate(timed))


def load_rate(drills: Sequence[DrillRun]) -> float:
    """Seconds per dump byte over the drills that measured a database load: all their load time
    over all their dump bytes (as for the file throughput). 0.0 without one."""
    loads = [(d.dump_bytes, d.load_s) for d in drills if d.load_s > 0]
    total = sum(b for b, _ in loads)
    return sum(s for _, s in loads) / total if total else 0.0


def project_full_rto(passes: Sequence[DrillRun], repo_bytes: int | None,
                     dump_bytes: int | None = None) -> Projection | None:
    """Projected RTO of restoring `repo_bytes` and loading `dump_bytes` of database dumps, from
    passing drills (oldest first).

    Uses the newest FIT_DRILLS drills that measured a throughput: a least-squares fit when their
    sizes differ enough, otherwise their pooled splits. The database load is taken out of each
    drill's time first and scaled on its own, by the dumps' size (docs/databases.md, "Projected full
    RTO"); `dump_bytes` None: the newest drill's dumps (no growth known). None without such a
    drill or a size.
    """
    if repo_bytes is None:
        return None
    measured = [(d, m) for d in passes[-FIT_DRILLS:] if (m := drill_model(d)) is not None]
    if not measured:
        return None
    drills = [d for d, _ in measured]
    dumps = dump_bytes if dump_bytes is not None else drills[-1].dump_bytes
    fit = fitted_model([(d.bytes_restored, d.rta_s - d.load_s) for d in drills])
    if fit is not None:
        fit = RestoreModel(fit.fixed_s, fit.s_per_byte, load_rate(drills))
    model = fit or pooled_model(drills) or measured[-1][1]
    estimates = [m.seconds(repo_bytes, dumps) for _, m in measured] + [model.seconds(repo_bytes, dumps)]
    sizes = [d.bytes_restored for d in drills]
    return Projection(
        seconds=model.seconds(repo_bytes, dumps), low_s=min(estimates), high_s=max(estimates),
        method="fit" if fit is not None else "split", model=model, drills=len(measured),
        smallest_drill_bytes=min(sizes), largest_drill_bytes=max(sizes), repo_bytes=repo_bytes,
        first_byte_measured=all(d.restore_first_byte_s is not None for d in drills), dump_bytes=dumps,
    )


def projected_full_rto(drill: DrillRun, repo_bytes: int | None, dump_bytes: int | None = None) -> float | None:
    """RTO for restoring `repo_bytes` (and loading `dump_bytes`; None: the drill's own dumps) by one
    drill's model. None when the drill measured no throughput or the size is unknown."""
    model = drill_model(drill)
    if model is None or repo_bytes is None:
        return None
    return model.seconds(repo_bytes, drill.dump_bytes if dump_bytes is None else dump_bytes)


# --- growth ---------------------------------------------------------------------------------


def least_squares(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line; the xs must not all be equal."""
    x_mean = sum(xs) / len(xs)
    y_mean = sum(ys) / len(ys)
    sxx = sum((x - x_mean) ** 2 for x in xs)
    sxy = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys))
    slope = sxy / sxx
    return slope, y_mean - slope * x_mean


@dataclass(frozen=True)
class Trend:
    """Linear repository growth: `intercept_bytes` is the fitted size at `at` (last sample)."""

    bytes_per_day: float
    intercept_bytes: float
    at: datetime

    def bytes_at(self, t: datetime) -> float:
        return self.intercept_bytes + self.bytes_per_day * (t - self.at).total_seconds() / 86400


def growth_trend(samples: Sequence[tuple[datetime, int]]) -> Trend | None:
    """Least-squares line of repository size over time; None with fewer than 2 distinct times.

    x is measured in days back from the last sample, so the intercept is the size "now".
    """
    if len({t for t, _ in samples}) < 2:
        return None
    last = max(t for t, _ in samples)
    slope, intercept = least_squares([(t - last).total_seconds() / 86400 for t, _ in samples],
                                     [float(b) for _, b in samples])
    return Trend(bytes_per_day=slope, intercept_bytes=intercept, at=last)


def rto_crossing_date(
    model: RestoreModel | None, trend: Trend, latest: tuple[datetime, int], rto_s: float, dump_bytes: int = 0
) -> datetime | None:
    """When the projected full RTO first exceeds `rto_s` if the repository keeps growing at
    `trend.bytes_per_day` from its `latest` (time, bytes) size. The database load of `dump_bytes`
    counts at today's size (the trend is the repository's, not the dumps').

    `latest` time when already exceeded; None when it never will (no restore model,
    non-positive growth, or beyond the datetime range).
    """
    latest_at, latest_bytes = latest
    if model is None:
        return None
    if model.seconds(latest_bytes, dump_bytes) > rto_s:
        return latest_at
    if trend.bytes_per_day <= 0:
        return None
    crossing_bytes = (rto_s - model.fixed_s - model.load_s(dump_bytes)) / model.s_per_byte
    days = (crossing_bytes - latest_bytes) / trend.bytes_per_day
    try:
        return latest_at + timedelta(days=days)
    except OverflowError:
        return None
