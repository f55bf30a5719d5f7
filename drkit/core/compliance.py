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

    @property
    def rta_s(self) -> float:
        """Recovery time actual: from the request to the moment data passed every check."""
        return (self.finished_at - self.started_at).total_seconds()

    def meets(self, rto_s: float) -> bool:
        return self.passed and self.rta_s <= rto_s


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
    target_s: float
    attainment: float
    breach_seconds: float
    worst_exposure_s: float
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
    points: Iterable[RecoveryPoint], period: Period, rpo_s: float, now: datetime | None = None
) -> RpoResult:
    """Measure RPO breach time, windows and worst exposure over `period` in O(n log n).

    Between completions the newest restorable capture c* is constant, so E(t) = t - c* grows
    linearly and each such segment [a, b) is in breach exactly on (max(a, c* + RPO), b).
    Points captured after `now` (or `period.until`) are ignored and returned in
    `ignored_future`: they can only come from a skewed clock, and counting them would hide a
    real exposure.
    """
    ref = now if now is not None else period.until
    kept: list[RecoveryPoint] = []
    future: list[RecoveryPoint] = []
    for point in points:
        (future if point.capture > ref else kept).append(point)

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

    breach = sum((w.end - w.start for w in windows), timedelta()).total_seconds()
    return RpoResult(
        target_s=rpo_s,
        attainment=max(0.0, 1.0 - breach / period.seconds),
        breach_seconds=breach,
        worst_exposure_s=worst,
        current_exposure_s=exposure_at(kept, ref),
        breach_windows=windows,
        ignored_future=future,
    )


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
) -> RtoResult:
    """RTO attainment over drill slots, RTA statistics, and the projected full-size RTO.

    A slot is met when a drill started in it passed within the RTO. A slot still open at
    `period.until` counts only if met, so a report never blames a slot that can still be met.
    The projection uses the newest passing drill: a small drill that met the RTO says nothing
    about restoring the whole repository.
    """
    ref = now if now is not None else period.until
    slots = drill_slots(occurrences, period)
    meeting_starts = sorted(d.started_at for d in drills if d.meets(rto_s))
    met = counted = 0
    for slot in slots:
        i = bisect_left(meeting_starts, slot.start)
        slot_met = i < len(meeting_starts) and meeting_starts[i] < slot.end
        met += slot_met
        counted += slot_met or slot.end <= period.until

    rtas = [d.rta_s for d in drills if d.passed and period.since <= d.started_at < period.until]
    passes = [d for d in drills if d.passed and d.finished_at <= ref]
    last = max(passes, key=lambda d: d.finished_at, default=None)
    projected = projected_full_rto(last, repo_bytes) if last is not None else None
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


def _restore_model(drill: DrillRun) -> tuple[float, float] | None:
    """(fixed overhead s, restore+verify seconds per byte) measured by a drill, or None."""
    if drill.bytes_restored <= 0 or drill.restore_verify_s <= 0:
        return None
    # Clamped: restore+verify longer than the whole drill is inconsistent evidence, not a credit.
    overhead = max(0.0, drill.rta_s - drill.restore_verify_s)
    return overhead, drill.restore_verify_s / drill.bytes_restored


def projected_full_rto(drill: DrillRun, repo_bytes: int | None) -> float | None:
    """RTO for restoring `repo_bytes`: the drill's fixed overhead plus bytes at its measured
    restore+verify throughput. None when the drill measured no throughput or size is unknown."""
    model = _restore_model(drill)
    if model is None or repo_bytes is None:
        return None
    overhead, s_per_byte = model
    return overhead + repo_bytes * s_per_byte


# --- growth ---------------------------------------------------------------------------------


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
    xs = [(t - last).total_seconds() / 86400 for t, _ in samples]
    ys = [float(b) for _, b in samples]
    x_mean = sum(xs) / len(xs)
    y_mean = sum(ys) / len(ys)
    sxx = sum((x - x_mean) ** 2 for x in xs)
    sxy = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys))
    slope = sxy / sxx
    return Trend(bytes_per_day=slope, intercept_bytes=y_mean - slope * x_mean, at=last)


def rto_crossing_date(
    drill: DrillRun, trend: Trend, latest: tuple[datetime, int], rto_s: float
) -> datetime | None:
    """When the projected full RTO first exceeds `rto_s` if the repository keeps growing at
    `trend.bytes_per_day` from its `latest` (time, bytes) size.

    `latest` time when already exceeded; None when it never will (no measured throughput,
    non-positive growth, or beyond the datetime range).
    """
    latest_at, latest_bytes = latest
    model = _restore_model(drill)
    if model is None:
        return None
    overhead, s_per_byte = model
    if overhead + latest_bytes * s_per_byte > rto_s:
        return latest_at
    if trend.bytes_per_day <= 0:
        return None
    crossing_bytes = (rto_s - overhead) / s_per_byte
    days = (crossing_bytes - latest_bytes) / trend.bytes_per_day
    try:
        return latest_at + timedelta(days=days)
    except OverflowError:
        return None
