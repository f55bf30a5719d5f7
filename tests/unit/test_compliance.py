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
    DrillRun,
    Period,
    RecoveryPoint,
    Slot,
    Window,
    drill_slots,
    exposure_at,
    growth_trend,
    percentile,
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
    d = drill(at(0), 10, bytes_restored=10**9, restore_verify_s=500.0)  # 100 s + 0.5 s/MB
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
    assert rto_crossing_date(drill(at(0), 10), trend, (at(0), 5 * 10**9), rto_s=H) is None


# --- boundaries and messages mutation testing found unguarded (docs/mutation.md) -------------------


def test_a_period_with_one_naive_bound_is_refused_with_a_message():
    with pytest.raises(ValueError, match=r"^period bounds must be timezone-aware \(UTC\)$"):
        Period(at(0), datetime(2026, 1, 2))
    with pytest.raises(ValueError, match=r"^empty period: until \(2026-01-02 00:00:00\+00:00\) must be after since"):
        Period(at(1), at(1))


def test_worst_exposure_of_a_short_period_is_its_own():
    result = rpo_analysis([RecoveryPoint(at(0), at(0))], Period(at(0), at(0, seconds=0.5)), rpo_s=H)
    assert result.worst_exposure_s == 0.5


def test_slots_accept_occurrences_exactly_at_the_period_bounds_and_drop_a_slot_ending_at_since():
    exact = [Slot(at(3), at(10)), Slot(at(10), at(17)), Slot(at(17), at(24))]
    assert drill_slots([at(3), at(10), at(17), at(24)], PERIOD_3_24) == exact
    assert drill_slots([at(0), at(3), at(10), at(17), at(24)], PERIOD_3_24) == exact
    with pytest.raises(ValueError, match=r"^drill occurrences 2026-01-05 00:00:00\+00:00\.\.2026-01-30 00:00:00"
                                         r"\+00:00 do not cover the period 2026-01-04 00:00:00\+00:00\.\."):
        drill_slots([at(4), at(10), at(29)], PERIOD_3_24)


def test_a_drill_starting_at_a_slot_boundary_belongs_to_the_next_slot():
    result = rto_analysis([drill(at(7), 10)], PERIOD_3_24, rto_s=H, occurrences=WEEKLY)
    assert (result.slots_counted, result.slots_met) == (3, 1)
    assert result.rta_p50_s == 600


def test_rta_statistics_cover_drills_started_in_the_half_open_period():
    drills = [drill(at(3), 10), drill(at(24), 90), drill(at(10), 20)]
    result = rto_analysis(drills, PERIOD_3_24, rto_s=H, occurrences=WEEKLY, now=at(24, 1.5))
    assert (result.rta_p50_s, result.rta_max_s) == (600, 1200)  # at since counts, at until does not
    assert result.last_pass_at == at(24, 1.5)  # finished exactly "now": the last pass


def test_rta_p95_is_the_nearest_rank_of_twenty_drills():
    drills = [drill(at(4, i), minutes) for i, minutes in enumerate(range(1, 21))]
    assert rto_analysis(drills, PERIOD_3_24, rto_s=H, occurrences=WEEKLY).rta_p95_s == 19 * 60
    assert percentile(range(1, 102), 50) == 51  # rank ceil(50.5)
    with pytest.raises(ValueError, match=r"^percentile must be within 0\.\.100, got 101$"):
        percentile([1], 101)


def test_a_projection_needs_measured_bytes_and_time_but_any_amount_of_either():
    assert projected_full_rto(drill(at(0), 10, bytes_restored=0, restore_verify_s=5.0), 10**9) is None
    assert projected_full_rto(drill(at(0), 10, bytes_restored=1, restore_verify_s=0.5), 4) == pytest.approx(600 - 0.5 + 2)
    # restore+verify as long as the drill: no overhead, the projection is throughput alone
    assert projected_full_rto(drill(at(0), 10, bytes_restored=600, restore_verify_s=600.0), 1200) == 1200


def test_growth_intercept_is_the_fitted_size_at_the_last_sample():
    trend = growth_trend([(at(0), 0), (at(4), 400)])
    assert trend is not None and trend.bytes_per_day == 100 and trend.intercept_bytes == 400


def test_no_crossing_without_growth_and_none_while_the_projection_equals_the_rto():
    d = drill(at(0), 10, bytes_restored=2**30, restore_verify_s=512.0)  # 88 s + 2**-21 s per byte
    at_rto = 3512 * 2**21  # 88 + 3512 * 2**21 * 2**-21 = 3600 s exactly
    flat = growth_trend([(at(-1), 5 * 10**9), (at(0), 5 * 10**9)])
    assert flat is not None and flat.bytes_per_day == 0
    assert rto_crossing_date(d, flat, (at(0), 10**9), rto_s=H) is None
    assert rto_crossing_date(d, flat, (at(0), at_rto), rto_s=H) is None  # = RTO: met, and stays so
    slow = growth_trend([(at(-2), at_rto - 2), (at(0), at_rto - 1)])  # half a byte a day
    assert slow is not None and slow.bytes_per_day == 0.5
    assert rto_crossing_date(d, slow, (at(0), at_rto - 1), rto_s=H) == at(2)
