"""Compliance math (docs/reports.md): hand-computed examples plus a brute-force reference."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drkit.core.compliance import (
    FIT_DRILLS,
    MIN_FIT_SPREAD,
    CopyRun,
    DrillRun,
    Period,
    RecoveryPoint,
    RestoreModel,
    Slot,
    Window,
    copy_points,
    coverage,
    drill_model,
    drill_slots,
    exposure_at,
    fitted_model,
    growth_trend,
    in_force_part,
    least_squares,
    percentile,
    pooled_model,
    project_full_rto,
    projected_full_rto,
    rpo_analysis,
    rto_analysis,
    rto_crossing_date,
    verified_points,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
H = 3600
DAY = 86400


def at(days: float = 0, hours: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours, seconds=seconds)


def daily(days: range, hour: float = 2) -> list[RecoveryPoint]:
    return [RecoveryPoint(capture=at(d, hour)) for d in days]


TEN_DAYS = Period(at(0), at(10))


# --- RPO: hand-computed examples --------------------------------------------------------------


def test_daily_snapshots_with_one_gap_breach_exactly_one_day():
    # Snapshots at 02:00 from Dec 31 to Jan 10, Jan 5 missing: exposure exceeds 24 h from
    # Jan 5 02:00 until the Jan 6 02:00 snapshot completes.
    points = daily(range(-1, 10))
    points = [p for p in points if p.capture != at(4, 2)]
    result = rpo_analysis(points, TEN_DAYS, rpo_s=24 * H)
    assert result.breach_seconds == DAY
    assert result.attainment == pytest.approx(0.9)
    assert result.breach_windows == [Window(at(4, 2), at(5, 2))]
    assert result.worst_exposure_s == 48 * H
    assert result.current_exposure_s == 22 * H
    assert result.ignored_future == []
    assert result.target_s == 24 * H


def test_no_snapshot_means_attainment_zero_and_whole_period_breached():
    result = rpo_analysis([], TEN_DAYS, rpo_s=24 * H)
    assert result.attainment == 0.0
    assert result.breach_seconds == 10 * DAY
    assert result.breach_windows == [Window(TEN_DAYS.since, TEN_DAYS.until)]
    assert result.worst_exposure_s == math.inf
    assert result.current_exposure_s == math.inf


def test_points_captured_before_since_count():
    with_earlier = rpo_analysis(daily(range(-1, 10)), TEN_DAYS, rpo_s=24 * H)
    without = rpo_analysis(daily(range(0, 10)), TEN_DAYS, rpo_s=24 * H)
    assert with_earlier.breach_seconds == 0
    assert with_earlier.attainment == 1.0
    assert with_earlier.worst_exposure_s == 24 * H  # Dec 31 02:00 -> Jan 1 02:00, not above RPO
    # Without the Dec 31 snapshot nothing is restorable until Jan 1 02:00.
    assert without.breach_windows == [Window(at(0), at(0, 2))]
    assert without.worst_exposure_s == math.inf


def test_completion_after_capture_counts_from_capture_but_only_once_completed():
    period = Period(at(0), at(0, 12))
    points = [
        RecoveryPoint(capture=at(0, -1)),  # complete before the period
        RecoveryPoint(capture=at(0, 0.5), completion=at(0, 2.5)),  # slow upload
        RecoveryPoint(capture=at(0, 3), completion=at(0, 3 + 10 / 60)),
    ]
    assert exposure_at(points, at(0, 2.5) - timedelta(seconds=1)) == 3.5 * H - 1
    assert exposure_at(points, at(0, 2.5)) == 2 * H  # measured from capture, not completion
    result = rpo_analysis(points, period, rpo_s=2 * H)
    assert result.breach_windows == [Window(at(0, 1), at(0, 3 + 10 / 60)), Window(at(0, 5), at(0, 12))]
    assert result.breach_seconds == (2 * 60 + 10) * 60 + 7 * H
    assert result.worst_exposure_s == 9 * H


def test_completion_before_capture_is_clamped_to_capture():
    point = RecoveryPoint(capture=at(1), completion=at(0))
    assert point.completed_at == at(1)
    assert exposure_at([point], at(0, 12)) == math.inf
    assert RecoveryPoint(capture=at(1)).completed_at == at(1)


def test_future_points_are_ignored_and_reported():
    skewed = RecoveryPoint(capture=at(20), snapshot_id="skewed")
    points = daily(range(-1, 10))
    result = rpo_analysis([*points, skewed], TEN_DAYS, rpo_s=24 * H)
    assert result.ignored_future == [skewed]
    assert replace(result, ignored_future=[]) == rpo_analysis(points, TEN_DAYS, rpo_s=24 * H)


def test_future_relative_to_now_is_ignored_in_current_exposure():
    now = at(4, 12)
    points = daily(range(-1, 5))
    skewed = RecoveryPoint(capture=at(4, 13))  # 1 h ahead of `now`: a skewed clock
    result = rpo_analysis([*points, skewed], TEN_DAYS, rpo_s=24 * H, now=now)
    assert result.ignored_future == [skewed]
    assert result.current_exposure_s == 10 * H  # from Jan 5 02:00, not a negative exposure


def test_unsorted_input_and_older_captures_completing_late():
    points = [
        RecoveryPoint(capture=at(0, 6)),
        RecoveryPoint(capture=at(0, 1), completion=at(0, 8)),  # older data, arrives later
        RecoveryPoint(capture=at(-1, 23)),
    ]
    result = rpo_analysis(points, Period(at(0), at(0, 10)), rpo_s=5 * H)
    # E: 1h..7h on [0, 6h) -> breach (4h, 6h); then t - 6h, max 4h.
    assert result.breach_windows == [Window(at(0, 4), at(0, 6))]
    assert result.worst_exposure_s == 7 * H


def test_period_must_be_nonempty_and_aware():
    with pytest.raises(ValueError):
        Period(at(1), at(1))
    with pytest.raises(ValueError):
        Period(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_verified_points_use_passing_drills_with_snapshot_time():
    good = DrillRun(at(1), at(1, 1), passed=True, snapshot_id="a", snapshot_time=at(0, 2))
    failed = DrillRun(at(2), at(2, 1), passed=False, snapshot_time=at(1, 2))
    unknown = DrillRun(at(3), at(3, 1), passed=True)
    assert verified_points([good, failed, unknown]) == [
        RecoveryPoint(capture=at(0, 2), completion=at(1, 1), snapshot_id="a")
    ]
    # Verified RPO: nothing is verified until Jan 2 01:00.
    result = rpo_analysis(verified_points([good]), Period(at(0), at(2)), rpo_s=DAY)
    assert result.breach_windows == [Window(at(0), at(1, 1)), Window(at(1, 2), at(2))]


def test_many_policies_are_fast():
    points = [RecoveryPoint(capture=at(d, 2), completion=at(d, 3)) for d in range(-3650, 0)]
    period = Period(at(-3650), at(0))
    started = time.perf_counter()
    for _ in range(100):
        rpo_analysis(points, period, rpo_s=DAY)
    assert time.perf_counter() - started < 10  # O(n log n): well under a second in practice


# --- RPO: brute-force reference on integer seconds ---------------------------------------------

BASE = datetime(2026, 3, 1, tzinfo=timezone.utc)


def brute_exposure(points: list[tuple[int, int]], t: float) -> float:
    captures = [c for c, f in points if f <= t]
    return t - max(captures) if captures else math.inf


timelines = st.tuples(
    st.integers(1, 2000),  # period length
    st.lists(st.tuples(st.integers(-500, 2500), st.integers(0, 300)), max_size=8),  # capture, delay
    st.integers(1, 500),  # RPO
)


@settings(max_examples=300, deadline=None)
@given(timelines)
def test_rpo_matches_brute_force(timeline):
    length, raw, rpo = timeline
    points = [(c, c + delay) for c, delay in raw]
    period = Period(BASE, BASE + timedelta(seconds=length))
    result = rpo_analysis(
        [RecoveryPoint(BASE + timedelta(seconds=c), BASE + timedelta(seconds=f)) for c, f in points],
        period,
        rpo_s=rpo,
    )
    # Every event is on an integer second, so c* is constant on each [k, k+1) and the threshold
    # c* + RPO is an integer: E exceeds the RPO on (almost) all of [k, k+1) or on none of it,
    # which E(k + 0.5) decides. The sup of E on [k, k+1) is E(k + 0.5) + 0.5.
    exposures = [brute_exposure(points, k + 0.5) for k in range(length)]
    breached = [k for k, e in enumerate(exposures) if e > rpo]
    assert result.breach_seconds == len(breached)
    assert 0.0 <= result.attainment <= 1.0
    assert result.attainment == pytest.approx(1 - len(breached) / length)
    worst = max(exposures) + 0.5
    assert result.worst_exposure_s == worst or abs(result.worst_exposure_s - worst) <= 1

    windows: list[list[int]] = []
    for k in breached:
        if windows and windows[-1][1] == k:
            windows[-1][1] = k + 1
        else:
            windows.append([k, k + 1])
    assert [
        [int((w.start - BASE).total_seconds()), int((w.end - BASE).total_seconds())]
        for w in result.breach_windows
    ] == windows
    assert result.current_exposure_s == brute_exposure(points, length)
    assert len(result.ignored_future) == sum(1 for c, _ in points if c > length)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-100, 100), st.integers(-50, 50)), max_size=8), st.integers(-100, 200))
def test_exposure_at_matches_definition(raw, t):
    points = [RecoveryPoint(BASE + timedelta(seconds=c), BASE + timedelta(seconds=c + d)) for c, d in raw]
    clamped = [(c, c + max(0, d)) for c, d in raw]
    assert exposure_at(points, BASE + timedelta(seconds=t)) == brute_exposure(clamped, t)


# --- drill slots and RTO ----------------------------------------------------------------------


def drill(start: datetime, minutes: float, passed: bool = True, **kwargs) -> DrillRun:
    return DrillRun(start, start + timedelta(minutes=minutes), passed, **kwargs)


WEEKLY = [at(d) for d in (0, 7, 14, 21, 28)]
PERIOD_3_24 = Period(at(3), at(24))


def test_slots_include_the_one_containing_since_and_the_open_last_one():
    assert drill_slots(WEEKLY, PERIOD_3_24) == [
        Slot(at(0), at(7)),
        Slot(at(7), at(14)),
        Slot(at(14), at(21)),
        Slot(at(21), at(28)),
    ]
    # A slot starting exactly at `until` lies outside the period.
    assert drill_slots(WEEKLY, Period(at(7), at(21)))[-1] == Slot(at(14), at(21))


def test_slots_require_occurrences_covering_the_period():
    with pytest.raises(ValueError):
        drill_slots([at(5), at(30)], PERIOD_3_24)


def test_thirty_day_fallback_without_a_drill_schedule():
    assert drill_slots([], Period(at(0), at(75))) == [
        Slot(at(0), at(30)),
        Slot(at(30), at(60)),
        Slot(at(60), at(90)),
    ]
    assert drill_slots([], Period(at(0), at(60))) == [Slot(at(0), at(30)), Slot(at(30), at(60))]


def test_rto_slots_met_counted_and_open_slot_only_if_met():
    drills = [
        drill(at(1), 30),  # before `since`, inside the slot containing it: met
        drill(at(8), 90),  # passed but slower than the RTO
        drill(at(15), 10, passed=False),
    ]
    result = rto_analysis(drills, PERIOD_3_24, rto_s=H, occurrences=WEEKLY)
    assert (result.slots_counted, result.slots_met) == (3, 1)  # open [21, 28) not counted
    assert result.attainment == pytest.approx(1 / 3)

    result = rto_analysis([*drills, drill(at(22), 20)], PERIOD_3_24, rto_s=H, occurrences=WEEKLY)
    assert (result.slots_counted, result.slots_met) == (4, 2)


def test_a_drill_taking_exactly_the_rto_meets_it_and_one_second_more_does_not():
    """The RTO is the longest recovery allowed: RTA <= RTO meets it (docs/reports.md), as the
    drill verdict says (jobs/drill/verdict.py)."""
    assert drill(at(8), 60).meets(H) and not drill(at(8), 60 + 1 / 60).meets(H)
    assert not drill(at(8), 60, passed=False).meets(H)
    exact = rto_analysis([drill(at(8), 60)], PERIOD_3_24, rto_s=H, occurrences=WEEKLY)
    assert (exact.slots_counted, exact.slots_met) == (3, 1)
    slower = rto_analysis([drill(at(8), 60 + 1 / 60)], PERIOD_3_24, rto_s=H, occurrences=WEEKLY)
    assert (slower.slots_counted, slower.slots_met) == (3, 0)


def test_a_projection_equal_to_the_rto_does_not_exceed_it():
    # 88 s overhead + 2**30 bytes in 512 s (2**-21 s per byte, exact in binary floating point)
    measured = drill(at(4), 10, bytes_restored=2**30, restore_verify_s=512.0)
    exact = rto_analysis([measured], PERIOD_3_24, rto_s=H, occurrences=WEEKLY, repo_bytes=3512 * 2**21)
    assert exact.projected_full_rto_s == H and exact.projected_exceeds_rto is False
    over = rto_analysis([measured], PERIOD_3_24, rto_s=H, occurrences=WEEKLY, repo_bytes=3512 * 2**21 + 1)
    assert over.projected_exceeds_rto is True


def test_rto_fallback_slots_and_no_counted_slot():
    period = Period(at(0), at(75))
    result = rto_analysis([drill(at(40), 5)], period, rto_s=H, occurrences=[])
    assert (result.slots_counted, result.slots_met) == (2, 1)
    result = rto_analysis([], Period(at(0), at(10)), rto_s=H, occurrences=[])
    assert result.attainment is None and result.slots_counted == 0
    assert result.rta_p50_s is None and result.last_pass_at is None and result.last_pass_age_s is None
    assert result.projected_full_rto_s is None and result.projected_exceeds_rto is None


def test_rta_statistics_and_last_pass():
    drills = [drill(at(4 + i / 10), minutes) for i, minutes in enumerate([10, 20, 30, 40, 50])]
    drills += [
        drill(at(1), 500),  # before the period: no RTA statistic
        drill(at(5), 999, passed=False),  # failed: no RTA statistic
        drill(at(30), 1),  # after `now`: not the last pass
    ]
    result = rto_analysis(drills, PERIOD_3_24, rto_s=H, occurrences=WEEKLY, now=at(25))
    assert result.rta_p50_s == 30 * 60
    assert result.rta_p95_s == 50 * 60
    assert result.rta_max_s == 50 * 60
    assert result.last_pass_at == at(4.4) + timedelta(minutes=50)
    assert result.last_pass_age_s == (at(25) - result.last_pass_at).total_seconds()


def test_projection_uses_newest_passing_drill_and_flags_rto_that_cannot_be_met():
    big = dict(bytes_restored=10**9, restore_verify_s=500.0)
    drills = [
        drill(at(4), 10, **big),  # rta 600 s: overhead 100 s, 2 MB/s
        drill(at(10), 10, passed=False, bytes_restored=10**9, restore_verify_s=1.0),
    ]
    result = rto_analysis(drills, PERIOD_3_24, rto_s=H, occurrences=WEEKLY, repo_bytes=10 * 10**9)
    assert result.projected_full_rto_s == pytest.approx(100 + 5000)
    assert result.projected_exceeds_rto is True
    assert result.slots_met == 1  # the small drill met the RTO; the projection says it cannot
    small = rto_analysis(drills, PERIOD_3_24, rto_s=H, occurrences=WEEKLY, repo_bytes=10**9)
    assert small.projected_exceeds_rto is False


def test_projected_full_rto():
    d = drill(at(0), 10, bytes_restored=10**9, restore_verify_s=500.0)
    assert projected_full_rto(d, 10 * 10**9) == pytest.approx(5100)
    assert projected_full_rto(d, None) is None
    assert projected_full_rto(drill(at(0), 10), 10**9) is None
    assert projected_full_rto(drill(at(0), 10, bytes_restored=10, restore_verify_s=0.0), 10) is None


def test_percentile_nearest_rank():
    values = [15, 20, 35, 40, 50]
    assert [percentile(values, p) for p in (0, 5, 30, 40, 50, 100)] == [15, 15, 20, 20, 35, 50]
    twenty = list(range(20, 0, -1))
    assert percentile(twenty, 50) == 10
    assert percentile(twenty, 95) == 19
    assert percentile([7], 95) == 7
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1], 101)


# --- growth and RTO crossing ------------------------------------------------------------------


def test_growth_trend_least_squares():
    exact = growth_trend([(at(0), 1000), (at(1), 1100), (at(2), 1200)])
    assert exact is not None
    assert exact.bytes_per_day == pytest.approx(100)
    assert exact.intercept_bytes == pytest.approx(1200)
    assert exact.at == at(2)
    assert exact.bytes_at(at(12)) == pytest.approx(2200)
    fitted = growth_trend([(at(2), 3), (at(0), 0), (at(1), 1)])
    assert fitted is not None
    assert fitted.bytes_per_day == pytest.approx(1.5)
    assert fitted.intercept_bytes == pytest.approx(4 / 3 + 1.5)


def test_growth_trend_needs_two_distinct_times():
    assert growth_trend([]) is None
    assert growth_trend([(at(0), 1)]) is None
    assert growth_trend([(at(0), 1), (at(0), 2)]) is None


def test_rto_crossing_date():
    d = drill_model(drill(at(0), 10, bytes_restored=10**9, restore_verify_s=500.0))  # 100 s + 0.5 s/MB
    trend = growth_trend([(at(-1), 49 * 10**8), (at(0), 50 * 10**8)])
    assert trend is not None  # 100 MB/day
    crossing = rto_crossing_date(d, trend, (at(0), 5 * 10**9), rto_s=H)
    # Projection exceeds 3600 s beyond 7 GB: 2 GB more at 100 MB/day = 20 days.
    assert crossing is not None
    assert abs((crossing - at(20)).total_seconds()) < 1
    assert rto_crossing_date(d, trend, (at(0), 8 * 10**9), rto_s=H) == at(0)
    shrinking = growth_trend([(at(-1), 51 * 10**8), (at(0), 50 * 10**8)])
    assert shrinking is not None
    assert rto_crossing_date(d, shrinking, (at(0), 5 * 10**9), rto_s=H) is None
    assert rto_crossing_date(drill_model(drill(at(0), 10)), trend, (at(0), 5 * 10**9), rto_s=H) is None


# --- objectives in force (docs/reports.md, "In force") ---------------------------------------------


def test_in_force_part_and_coverage():
    assert in_force_part(TEN_DAYS, None) == TEN_DAYS
    assert in_force_part(TEN_DAYS, at(-5)) == TEN_DAYS
    assert in_force_part(TEN_DAYS, at(4)) == Period(at(4), at(10))
    assert in_force_part(TEN_DAYS, at(10)) is None and in_force_part(TEN_DAYS, at(12)) is None
    assert [coverage(TEN_DAYS, t) for t in (None, at(-1), at(4), at(10))] == [1.0, 1.0, pytest.approx(0.6), 0.0]


def test_time_before_in_force_is_neither_breach_nor_attainment():
    # The reported defect: a policy whose first backup completed on day 9 of a 10-day period was
    # painted red for the 9 days before it existed.
    points = [RecoveryPoint(capture=at(9), completion=at(9, 1))]
    before = rpo_analysis(points, TEN_DAYS, rpo_s=24 * H)
    assert before.attainment == pytest.approx(0.1 - 1 / 240)  # the defect: 9 days 1 hour of breach
    result = rpo_analysis(points, TEN_DAYS, rpo_s=24 * H, in_force_from=at(9, 1))
    assert result.attainment == 1.0 and result.breach_windows == [] and result.breach_seconds == 0
    assert result.worst_exposure_s == 24 * H and result.current_exposure_s == 24 * H


def test_missing_evidence_still_counts_once_in_force():
    result = rpo_analysis([], TEN_DAYS, rpo_s=24 * H, in_force_from=at(6))
    assert result.attainment == 0.0 and result.breach_windows == [Window(at(6), at(10))]
    assert result.worst_exposure_s == math.inf


def test_objectives_not_yet_in_force_attain_nothing():
    result = rpo_analysis(daily(range(0, 10)), TEN_DAYS, rpo_s=24 * H, in_force_from=at(10))
    assert result.attainment is None and result.worst_exposure_s is None
    assert result.breach_seconds == 0 and result.breach_windows == []
    assert result.current_exposure_s == 22 * H  # still the fact at the period end


in_force_timelines = st.tuples(timelines, st.integers(-100, 2100))


@settings(max_examples=300, deadline=None)
@given(in_force_timelines)
def test_in_force_splits_the_breach_of_the_whole_period(case):
    """Breach before in-force + breach in force = breach of the whole period; the in-force part is
    exactly the analysis of the sub-period, and its windows never start before in-force."""
    (length, raw, rpo), offset = case
    points = [RecoveryPoint(BASE + timedelta(seconds=c), BASE + timedelta(seconds=c + d)) for c, d in raw]
    period = Period(BASE, BASE + timedelta(seconds=length))
    start = BASE + timedelta(seconds=offset)
    whole = rpo_analysis(points, period, rpo_s=rpo)
    part = rpo_analysis(points, period, rpo_s=rpo, in_force_from=start)
    assert part.current_exposure_s == whole.current_exposure_s
    if offset >= length:
        assert part.attainment is None and part.breach_seconds == 0
        return
    if offset <= 0:
        assert part == whole
        return
    sub = Period(start, period.until)
    assert replace(part, ignored_future=[]) == replace(rpo_analysis(points, sub, rpo_s=rpo, now=period.until),
                                                       ignored_future=[])
    early = rpo_analysis(points, Period(BASE, start), rpo_s=rpo, now=period.until)
    assert early.breach_seconds + part.breach_seconds == pytest.approx(whole.breach_seconds)
    assert all(w.start >= start for w in part.breach_windows)
    assert 0.0 <= part.attainment <= 1.0


def test_slot_begun_before_in_force_counts_only_if_met():
    # weekly slots [0,7) [7,14) [14,21) [21,28); in force from day 9: [7,14) began before it
    result = rto_analysis([], PERIOD_3_24, rto_s=H, occurrences=WEEKLY, in_force_from=at(9))
    assert (result.slots_met, result.slots_counted) == (0, 1)  # only [14, 21): [21, 28) is still open
    met = rto_analysis([drill(at(10), 30)], PERIOD_3_24, rto_s=H, occurrences=WEEKLY, in_force_from=at(9))
    assert (met.slots_met, met.slots_counted, met.attainment) == (1, 2, 0.5)
    # before in force: a drill's time is no RTA statistic of the objectives either
    trial = rto_analysis([drill(at(4), 90)], PERIOD_3_24, rto_s=H, occurrences=WEEKLY, in_force_from=at(9))
    assert trial.rta_max_s is None and trial.last_pass_at == at(4) + timedelta(minutes=90)


def test_no_drill_schedule_anchors_slots_at_the_in_force_time():
    result = rto_analysis([], Period(at(0), at(75)), rto_s=H, occurrences=[], in_force_from=at(20))
    assert (result.slots_met, result.slots_counted) == (0, 1)  # [20, 50) closed, [50, 80) open
    gone = rto_analysis([drill(at(1), 5)], Period(at(0), at(75)), rto_s=H, occurrences=[], in_force_from=at(80))
    assert gone.attainment is None and gone.slots_counted == 0 and gone.rta_p50_s is None


# --- projected full RTO: fixed cost + bytes / throughput --------------------------------------------

MB = 10**6


def timed_drill(start: datetime, nbytes: int, model: RestoreModel, first_byte_s: float = 1.0,
                other_s: float = 0.5) -> DrillRun:
    """A drill whose restore follows `model`: `first_byte_s` of restic start-up, then the bytes at the
    model's throughput, plus `other_s` of preflight and checks (model.fixed_s = first_byte_s + other_s)."""
    data_s = nbytes * model.s_per_byte
    rta = model.fixed_s + data_s
    return DrillRun(start, start + timedelta(seconds=rta), True, bytes_restored=nbytes,
                    restore_verify_s=first_byte_s + data_s, restore_first_byte_s=first_byte_s)


def test_small_drill_dominated_by_start_up_no_longer_inflates_the_projection():
    # The reported defect: 40 MB restored in 1.56 s of which 1.28 s restic start-up (RTA 1.69 s);
    # dividing it all by the bytes projected 400 MB at 12-16 s where the next drill took 3.7 s.
    small = DrillRun(at(0), at(0, seconds=1.69), True, bytes_restored=40 * MB, restore_verify_s=1.56,
                     restore_first_byte_s=1.28)
    projection = project_full_rto([small], 400 * MB)
    assert projection is not None and projection.method == "split"
    assert projection.model.fixed_s == pytest.approx(1.41)
    assert projection.seconds == pytest.approx(1.41 + 2.8)
    assert abs(projection.seconds / 3.7 - 1) < 0.2
    legacy = replace(small, restore_first_byte_s=None)  # recorded before the first byte was measured
    assert project_full_rto([legacy], 400 * MB).seconds == pytest.approx(0.13 + 15.6)
    assert project_full_rto([legacy], 400 * MB).first_byte_measured is False


def test_drill_model_splits_at_the_first_byte_and_clamps_bad_evidence():
    model = drill_model(DrillRun(at(0), at(0, seconds=100), True, bytes_restored=50 * MB, restore_verify_s=80,
                                 restore_first_byte_s=30))
    assert model == RestoreModel(fixed_s=50, s_per_byte=1 / MB)
    everything_start_up = DrillRun(at(0), at(0, seconds=10), True, bytes_restored=MB, restore_verify_s=5,
                                   restore_first_byte_s=7)
    assert drill_model(everything_start_up) is None
    inconsistent = DrillRun(at(0), at(0, seconds=10), True, bytes_restored=MB, restore_verify_s=50)
    assert drill_model(inconsistent) == RestoreModel(fixed_s=0.0, s_per_byte=50 / MB)


def test_pooled_model_uses_median_fixed_cost_and_all_bytes_over_all_data_time():
    truth = RestoreModel(fixed_s=2.0, s_per_byte=0.01 / MB)
    drills = [timed_drill(at(d), 40 * MB, truth, first_byte_s=1.5) for d in range(3)]
    slow = replace(drills[1], finished_at=drills[1].finished_at + timedelta(seconds=4),
                   restore_verify_s=drills[1].restore_verify_s + 4)  # one drill on a busy host
    pooled = pooled_model([drills[0], slow, drills[2]])
    assert pooled is not None and pooled.fixed_s == pytest.approx(2.0)
    assert pooled.s_per_byte == pytest.approx((3 * 0.4 + 4) / (120 * MB))
    legacy = DrillRun(at(5), at(5, 1), True, bytes_restored=MB, restore_verify_s=3000)
    assert pooled_model([legacy, *drills]) == pooled_model(drills)  # older records only when alone
    assert pooled_model([legacy]) == drill_model(legacy)
    assert pooled_model([]) is None


def test_fit_needs_sizes_four_times_apart_and_a_physical_line():
    assert fitted_model([(10 * MB, 2.0), (30 * MB, 4.0)]) is None  # 3x apart: timing noise
    assert fitted_model([(10 * MB, 2.0), (40 * MB, 5.0)]) == RestoreModel(pytest.approx(1.0), pytest.approx(0.1 / MB))
    assert fitted_model([(10 * MB, 5.0), (40 * MB, 4.0)]) is None  # larger restores faster: no slope
    assert fitted_model([(10 * MB, 1.0), (40 * MB, 10.0)]) is None  # negative fixed cost
    assert fitted_model([(10 * MB, 1.0)]) is None


def test_projection_prefers_the_fit_and_states_its_spread():
    truth = RestoreModel(fixed_s=3.0, s_per_byte=0.02 / MB)
    drills = [timed_drill(at(0), 40 * MB, truth), timed_drill(at(1), 400 * MB, truth, first_byte_s=1.2)]
    projection = project_full_rto(drills, 4000 * MB)
    assert projection is not None and projection.method == "fit" and projection.drills == 2
    assert projection.seconds == pytest.approx(truth.seconds(4000 * MB))
    assert projection.low_s <= projection.seconds <= projection.high_s
    assert projection.extrapolation == pytest.approx(10)
    assert (projection.smallest_drill_bytes, projection.largest_drill_bytes) == (40 * MB, 400 * MB)
    assert project_full_rto(drills, None) is None
    assert project_full_rto([replace(d, bytes_restored=0) for d in drills], 4000 * MB) is None
    # only the newest FIT_DRILLS drills: an old, slow host's drills drop out
    old = [timed_drill(at(-30 + i), 40 * MB, RestoreModel(300.0, 1 / MB)) for i in range(2)]
    recent = [timed_drill(at(i), (40, 400)[i % 2] * MB, truth) for i in range(FIT_DRILLS)]
    assert project_full_rto([*old, *recent], 4000 * MB) == project_full_rto(recent, 4000 * MB)
    assert project_full_rto([*old, *recent[1:]], 4000 * MB).high_s > 300


def test_rto_analysis_projects_from_passing_drills_finished_by_now():
    truth = RestoreModel(fixed_s=60.0, s_per_byte=1 / MB)
    drills = [timed_drill(at(4), 100 * MB, truth), replace(timed_drill(at(5), 200 * MB, truth), passed=False),
              timed_drill(at(30), 200 * MB, RestoreModel(1.0, 0.001 / MB))]
    result = rto_analysis(drills, PERIOD_3_24, rto_s=H, occurrences=WEEKLY, now=at(25), repo_bytes=1000 * MB)
    assert result.projection is not None and result.projection.drills == 1
    assert result.projected_full_rto_s == pytest.approx(1060)


# Drills last at least milliseconds: their times are stored to the microsecond.
models = st.builds(RestoreModel, fixed_s=st.floats(0.1, 3600.0), s_per_byte=st.floats(1e-9, 1e-5))
sizes = st.integers(10 * MB, 10**11)


@settings(max_examples=300, deadline=None)
@given(models, st.lists(sizes, min_size=1, max_size=12), st.floats(0.0, 1.0), sizes)
def test_projection_is_exact_when_drills_follow_the_model(truth, drill_sizes, start_share, target):
    """Whatever the sizes (one size or several, fitted or split), drills that follow fixed cost +
    bytes / throughput project any size exactly, and the point lies within its range."""
    drills = [timed_drill(at(i), b, truth, first_byte_s=truth.fixed_s * start_share,
                          other_s=truth.fixed_s * (1 - start_share)) for i, b in enumerate(drill_sizes)]
    projection = project_full_rto(drills, target)
    assert projection is not None
    assert projection.seconds == pytest.approx(truth.seconds(target), rel=1e-3)
    assert projection.low_s <= projection.seconds <= projection.high_s
    used = drill_sizes[-FIT_DRILLS:]
    assert projection.method == ("fit" if max(used) >= MIN_FIT_SPREAD * min(used) else "split")
    assert projection.drills == len(used)


def loading_drill(start: datetime, nbytes: int, dump_bytes: int, model: RestoreModel, start_share: float) -> DrillRun:
    """A drill following `model`, files and database load: the dumps (part of the restored bytes)
    are loaded into throw-away servers at the model's load rate after the file restore."""
    plain = timed_drill(start, nbytes, model, first_byte_s=model.fixed_s * start_share,
                        other_s=model.fixed_s * (1 - start_share))
    load_s = model.load_s(dump_bytes)
    return replace(plain, finished_at=plain.finished_at + timedelta(seconds=load_s), db_load_s=load_s,
                   dump_bytes=dump_bytes)


loading_models = st.builds(RestoreModel, fixed_s=st.floats(0.1, 3600.0), s_per_byte=st.floats(1e-9, 1e-5),
                           load_s_per_dump_byte=st.floats(1e-8, 1e-4))


@settings(max_examples=300, deadline=None)
@given(loading_models, st.lists(st.tuples(sizes, st.floats(0.001, 1.0)), min_size=1, max_size=12),
       st.floats(0.0, 1.0), sizes, st.integers(0, 10**10))
def test_projection_scales_database_load_by_the_dumps_and_files_by_the_data(truth, drilled, start_share, target,
                                                                            target_dumps):
    """Drills whose time is fixed cost + bytes / throughput + dump bytes x load rate project any data
    size and any dump size exactly (docs/reports.md, "Databases"), whether fitted or split, and the
    dumps growing by X adds exactly X x the load rate whatever the data size."""
    drills = [loading_drill(at(i), b, max(1, int(b * share)), truth, start_share)
              for i, (b, share) in enumerate(drilled)]
    projection = project_full_rto(drills, target, target_dumps)
    assert projection is not None
    assert projection.seconds == pytest.approx(truth.seconds(target, target_dumps), rel=1e-3)
    assert projection.database_load_s == pytest.approx(truth.load_s(target_dumps), rel=1e-3)
    assert projection.low_s <= projection.seconds <= projection.high_s
    grown = project_full_rto(drills, target, target_dumps + 10**9)
    assert grown.seconds - projection.seconds == pytest.approx(10**9 * truth.load_s_per_dump_byte, rel=1e-3)


def test_database_load_counts_as_fixed_without_the_dumps_size_and_follows_the_newest_drills_dumps():
    files = RestoreModel(fixed_s=10.0, s_per_byte=1e-7)
    plain = timed_drill(at(0), 100 * MB, files)
    loaded = replace(plain, finished_at=plain.finished_at + timedelta(seconds=30), db_load_s=30.0)
    legacy = project_full_rto([loaded], 1000 * MB)  # an older drill: load time, no dump size
    assert legacy.model.fixed_s == pytest.approx(40.0) and legacy.database_load_s == 0
    assert legacy.seconds == pytest.approx(40 + 100)
    measured = replace(loaded, dump_bytes=10 * MB)  # 3 s per MB of dump
    assert project_full_rto([measured], 1000 * MB).seconds == pytest.approx(10 + 100 + 30)  # dumps as drilled
    assert project_full_rto([measured], 1000 * MB, 20 * MB).seconds == pytest.approx(10 + 100 + 60)
    assert project_full_rto([measured], 1000 * MB, 0).seconds == pytest.approx(10 + 100)  # targets removed


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e12, 1e12), st.floats(-1e6, 1e6)), min_size=2, max_size=20))
def test_least_squares_residuals_sum_to_zero(pairs):
    xs = [x for x, _ in pairs]
    if max(xs) - min(xs) < 1:
        return
    ys = [y for _, y in pairs]
    slope, intercept = least_squares(xs, ys)
    residuals = [y - (intercept + slope * x) for x, y in pairs]
    assert sum(residuals) == pytest.approx(0, abs=1e-6 * max(1.0, max(abs(y) for y in ys)) * len(ys))


# --- copies (docs/repositories.md) ------------------------------------------------------------


def test_a_copy_point_counts_from_the_copy_run_not_from_the_backup():
    # Backup at 02:00 (restorable 02:10 from the first repository); copied at 05:00.
    primary = [RecoveryPoint(capture=at(0, 2), completion=at(0, 2, 600), snapshot_id="a")]
    [point] = copy_points([CopyRun(at(0, 5), (("a", at(0, 2)),))])
    assert point.capture == at(0, 2) and point.completed_at == at(0, 5)
    assert exposure_at(primary, at(0, 4)) == 2 * H and exposure_at([point], at(0, 4)) == math.inf
    assert exposure_at([point], at(0, 6)) == 4 * H
    assert copy_points([CopyRun(at(0, 5))]) == []  # a copy that found nothing new adds no point


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 100)), min_size=1, max_size=8),
       st.lists(st.tuples(st.integers(0, 7), st.integers(0, 500)), max_size=8), st.integers(0, 3000))
def test_a_copy_is_never_fresher_than_the_repository_it_copies(backups, copies, t):
    """Whatever is copied when, a copy's exposure is at least the first repository's at every
    moment: it can only hold snapshots the first one had, and only later."""
    primary = [RecoveryPoint(capture=at(hours=c / 10), completion=at(hours=(c + d) / 10), snapshot_id=str(i))
               for i, (c, d) in enumerate(backups)]
    runs = []
    for index, delay in copies:
        source = primary[index % len(primary)]
        runs.append(CopyRun(source.completed_at + timedelta(hours=delay / 10), ((source.snapshot_id, source.capture),)))
    moment = at(hours=t / 10)
    assert exposure_at(copy_points(runs), moment) >= exposure_at(primary, moment)
    period = Period(at(0), at(hours=400))
    assert (rpo_analysis(copy_points(runs), period, 24 * H).breach_seconds
            >= rpo_analysis(primary, period, 24 * H).breach_seconds)
