"""The report model on hand-computed timelines (docs/reports.md), from pure facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from report_builders import DAY, MONTH, PERIOD, T0, T1, H, at, daily_points, drill, facts, new_policy, rto_facts

from drkit.core.compliance import Period, Window
from drkit.engines.catalog import PointRow
from drkit.views.report.model import (
    EvidenceItem,
    build_policy,
    build_report,
    exposure_series,
    parse_moment,
    report_period,
)

# --- RPO ------------------------------------------------------------------------------------


def test_daily_backups_taking_30_minutes_breach_a_24h_rpo_30_minutes_a_day():
    report = build_policy(facts(rpo_s=24 * H, points=tuple(daily_points(skip=()))), PERIOD, now=T1)
    # each capture is 24 h old at 02:00 the next day, and its successor is restorable at 02:30 only
    assert report.rpo.breach_windows == [Window(at(d, 2), at(d, 2.5)) for d in range(10)]
    assert report.rpo.breach_seconds == 10 * 0.5 * H
    assert report.rpo.worst_exposure_s == 24.5 * H


def test_missing_daily_backup_breaches_until_the_next_one_completes():
    report = build_policy(facts(), PERIOD, now=T1)
    # Jan 4 02:00 capture is 25 h old at Jan 5 03:00; the Jan 6 capture completes at 02:30.
    assert report.rpo.breach_windows == [Window(at(4, 3), at(5, 2.5))]
    assert report.rpo.breach_seconds == 23.5 * H
    assert report.rpo.attainment == pytest.approx(1 - 23.5 * H / (10 * DAY))
    assert report.rpo.worst_exposure_s == 48.5 * H
    assert report.rpo.current_exposure_s == 22 * H  # Jan 11 00:00 - Jan 10 02:00
    assert report.rpo_met is False


def test_manual_snapshot_counts_from_its_own_time_and_is_named_in_a_caveat():
    manual = PointRow("ee" * 32, at(4, 14), None)
    report = build_policy(facts(points=tuple(daily_points()) + (manual,)), PERIOD, now=T1)
    assert report.rpo.breach_windows == [Window(at(4, 3), at(4, 14))]
    assert report.rpo.breach_seconds == 11 * H
    assert report.rpo.attainment == pytest.approx(1 - 11 / 240)
    assert report.rpo.worst_exposure_s == 36 * H
    assert any("1 snapshot without drkit backup evidence" in c for c in report.caveats)


def test_a_partial_snapshot_does_not_end_an_rpo_breach_unless_accepted():
    # the Jan 5 gap (test above) is "closed" at Jan 4 14:00 by a snapshot that lacks unreadable files
    partial = PointRow("dd" * 32, at(4, 14), at(4, 14.5), partial=True)
    points = tuple(daily_points()) + (partial,)
    degraded = build_policy(facts(points=points, accept_partial=False), PERIOD, now=T1)
    assert degraded.rpo == build_policy(facts(accept_partial=False), PERIOD, now=T1).rpo
    assert degraded.rpo.breach_windows == [Window(at(4, 3), at(5, 2.5))]
    assert any("1 partial snapshot" in c and "not counted" in c for c in degraded.caveats)
    accepted = build_policy(facts(points=points, accept_partial=True), PERIOD, now=T1)
    assert accepted.rpo.breach_windows == [Window(at(4, 3), at(4, 14.5))]
    assert any("counted as recovery points (objectives.accept_partial)" in c for c in accepted.caveats)


def test_future_snapshot_is_ignored_and_reported_as_clock_skew():
    future = PointRow("ff" * 32, at(30), None)
    with_future = build_policy(facts(points=tuple(daily_points()) + (future,)), PERIOD, now=T1)
    without = build_policy(facts(), PERIOD, now=T1)
    assert with_future.rpo == without.rpo
    skew = [c for c in with_future.caveats if c.startswith("clock skew")]
    assert len(skew) == 1 and "ffffffff at 2026-01-31T00:00:00.000000Z" in skew[0]


def test_policy_without_any_snapshot_has_attainment_zero_and_null_exposures():
    report = build_policy(facts(points=(), listed_at=None, first_evidence_at=None), PERIOD, now=T1)
    assert report.rpo.attainment == 0.0
    assert report.rpo.breach_seconds == 10 * DAY
    assert report.rpo.worst_exposure_s is None and report.rpo.current_exposure_s is None
    assert report.rpo.breach_windows == [Window(T0, T1)]
    text = " ".join(report.caveats)
    assert "never listed" in text and "worst exposure is unbounded" in text and "current exposure is unbounded" in text
    assert "no drkit evidence at all: completion times are snapshot times" in report.not_shown


def test_snapshot_only_before_the_period_still_counts():
    old = PointRow("aa" * 32, T0 - timedelta(hours=1), T0 - timedelta(minutes=30))
    report = build_policy(facts(points=(old,)), PERIOD, now=T1)
    # restorable throughout; exposure passes 25 h at Jan 2 00:00 and stays above.
    assert report.rpo.breach_windows == [Window(at(1), T1)]
    assert report.rpo.attainment == pytest.approx(0.1)
    assert report.rpo.worst_exposure_s == 10 * DAY + H


# --- RTO, verified RPO, projection ----------------------------------------------------------------

def test_rto_slots_percentiles_and_last_pass():
    rto = build_policy(rto_facts(), PERIOD, now=T1).rto
    # slot 1 met (1 h), slot 2 only a 5 h drill, slot 3 still open and unmet: not counted.
    assert (rto.slots_met, rto.slots_counted, rto.attainment) == (1, 2, 0.5)
    assert (rto.rta_p50_s, rto.rta_p95_s, rto.rta_max_s) == (1 * H, 5 * H, 5 * H)
    assert rto.last_pass_at == at(5, 15)  # a breach is a pass that took too long
    assert rto.last_pass_age_s == T1.timestamp() - at(5, 15).timestamp()


def test_projection_flags_an_rto_the_full_data_set_cannot_meet():
    report = build_policy(rto_facts(), PERIOD, now=T1)
    # 1 h overhead + 2 GB at 4 h per GB = 9 h > 4 h, already exceeded at the latest backup.
    assert report.rto.projected_full_rto_s == pytest.approx(9 * H)
    assert report.rto.projected_exceeds_rto is True
    assert report.growth.bytes_per_day == pytest.approx(100_000_000)
    assert report.growth.latest_bytes == 2_000_000_000
    assert report.growth.rto_crossing_at == at(9, 2.5)
    assert any("projected full RTO 9h exceeds the RTO 4h" in c for c in report.caveats)
    assert report.rto_met is False


def test_growth_gives_the_date_the_projection_crosses_the_rto():
    report = build_policy(rto_facts(rto_h=10), PERIOD, now=T1)
    assert report.rto.attainment == 1.0  # the 5 h drill meets a 10 h RTO
    assert report.rto.projected_exceeds_rto is False
    # (10 h - 1 h) / 4 h per GB = 2.25 GB, reached 2.5 days after the 2.0 GB backup at Jan 10 02:30.
    assert report.growth.rto_crossing_at == at(11.5, 2.5)


def test_verified_rpo_counts_only_drilled_points_from_the_drills_finish():
    verified = build_policy(rto_facts(), PERIOD, now=T1).verified_rpo
    # nothing verified until Jan 2 11:00; Jan 1 02:00 data until Jan 6 15:00; then Jan 6 02:00 data.
    assert verified.breach_windows == [Window(T0, at(5, 15)), Window(at(6, 3), T1)]
    assert verified.breach_seconds == (5 * DAY + 15 * H) + (3 * DAY + 21 * H)
    assert verified.worst_exposure_s is None
    assert verified.current_exposure_s == 4 * DAY + 22 * H


def test_unsigned_drill_is_not_counted():
    base = rto_facts()
    tampered = EvidenceItem(base.drills[0].record, "signature does not match the record (edited after signing?)")
    report = build_policy(replace(base, drills=(tampered,) + base.drills[1:]), PERIOD, now=T1)
    assert (report.rto.slots_met, report.rto.slots_counted) == (0, 2)
    assert any("1 drill record failing signature verification" in c for c in report.caveats)


def test_no_drills_no_schedule_means_zero_attainment_over_30_day_slots():
    period = Period(T0, T0 + timedelta(days=60))
    report = build_policy(facts(first_drill_at=None), period, now=period.until)
    assert (report.rto.slots_met, report.rto.slots_counted, report.rto.attainment) == (0, 2, 0.0)
    assert report.rto.last_pass_at is None and report.rto.projected_full_rto_s is None
    assert "no drill evidence at all" in report.not_shown
    assert any("no drill has ever passed" in c for c in report.caveats)
    assert any("30-day slots" in c for c in report.caveats)


def test_short_period_with_open_slot_has_undefined_rto_attainment():
    period = Period(T0, T0 + timedelta(days=3))
    report = build_policy(facts(), period, now=period.until)
    assert report.rto.attainment is None and report.rto.slots_counted == 0
    assert any("RTO attainment is undefined" in c for c in report.caveats)


# --- period, series -------------------------------------------------------------------------------


def test_period_defaults_to_last_30_days_and_never_reaches_into_the_future():
    now = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)
    period, notes = report_period(None, None, now)
    assert (period.since, period.until, notes) == (now - timedelta(days=30), now, [])
    period, notes = report_period(parse_moment("2026-03-01"), parse_moment("2026-04-01"), now)
    assert (period.since, period.until) == (datetime(2026, 3, 1, tzinfo=timezone.utc), now)
    assert "lies in the future" in notes[0]
    with pytest.raises(ValueError, match="empty period"):
        report_period(parse_moment("2026-03-05"), parse_moment("2026-03-05T00:00:00+00:00"), now)


def test_parse_moment_reads_dates_datetimes_and_offsets_as_utc():
    assert parse_moment("2026-03-01") == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert parse_moment("2026-03-01T12:30:00") == datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)
    assert parse_moment("2026-03-01T12:30:00+02:00") == datetime(2026, 3, 1, 10, 30, tzinfo=timezone.utc)
    assert parse_moment("2026-03-01T12:30:00Z") == datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="not an ISO date"):
        parse_moment("yesterday")


def test_exposure_series_is_the_sawtooth_of_design_section_6():
    report = build_policy(facts(points=tuple(daily_points(skip=()))[:3]), Period(T0, at(2)), now=at(2))
    series = exposure_series(report.points, Period(T0, at(2)))
    assert series == [
        (T0, 22 * H),  # Dec 31 02:00 data
        (at(0, 2.5), 24.5 * H), (at(0, 2.5), 0.5 * H),  # Jan 1 02:00 capture completes
        (at(1, 2.5), 24.5 * H), (at(1, 2.5), 0.5 * H),
        (at(2), 22 * H),
    ]


def test_exposure_series_is_none_while_nothing_is_restorable():
    series = exposure_series([], PERIOD)
    assert series == [(T0, None), (T1, None)]


def test_build_report_keeps_period_time_and_notes():
    report = build_report([facts()], PERIOD, T1, ["a note"])
    assert report.period == PERIOD and report.generated_at == T1 and report.notes == ["a note"]
    assert [p.name for p in report.policies] == ["db"]
    assert any("sandbox" in line for line in report.not_shown)


def test_backups_minutes_apart_give_no_growth_trend():
    base = rto_facts()
    close = ((at(9), 1_000), (at(9, 0.1), 2_000))
    report = build_policy(replace(base, sizes=close, latest_size=close[-1]), PERIOD, now=T1)
    assert report.growth.bytes_per_day is None and report.growth.rto_crossing_at is None
    assert report.growth.samples == 2 and report.growth.latest_bytes == 2_000
    assert any("spread over at least a day" in c for c in report.caveats)


def test_a_listing_older_than_the_period_end_is_a_caveat():
    stale = build_policy(facts(listed_at=at(9)), PERIOD, now=T1)
    fresh = build_policy(facts(listed_at=T1), PERIOD, now=T1)
    assert any("last listed at 2026-01-10T00:00:00.000000Z" in c for c in stale.caveats)
    assert not any("last listed" in c for c in fresh.caveats)


# --- objectives in force ----------------------------------------------------------------------------

def test_new_policy_is_not_red_for_the_month_before_it_existed():
    before = build_policy(new_policy(first_evidence_at=None), MONTH, now=MONTH.until)  # the defect
    assert before.rpo.attainment < 0.1 and (before.rto.slots_met, before.rto.slots_counted) == (1, 6)
    report = build_policy(new_policy(), MONTH, now=MONTH.until)
    assert report.in_force.since == at(27, 2.5) and report.in_force.source == "first evidence record"
    assert report.in_force.coverage == pytest.approx((2 * DAY + 21.5 * H) / (30 * DAY))
    assert report.rpo.attainment == 1.0 and report.rpo.breach_windows == [] and report.rpo_met
    # slot [25, 30) began before the policy existed: counted because met, the five before not at all
    assert (report.rto.slots_met, report.rto.slots_counted, report.rto.attainment) == (1, 1, 1.0)
    assert report.rto_met
    assert any(line.startswith("the time before 2026-01-28T02:30:00.000000Z, when the objectives came into force "
                               "(first evidence record)") for line in report.not_shown)


def test_declared_in_force_from_wins_over_the_first_evidence():
    report = build_policy(new_policy(in_force_from=at(20)), MONTH, now=MONTH.until)
    assert report.in_force.source == "objectives.in_force_from" and report.in_force.coverage == pytest.approx(1 / 3)
    # nothing restorable from day 20 until day 27 02:30: counted against the RPO
    assert report.rpo.breach_windows == [Window(at(20), at(27, 2.5))]
    assert report.rpo.attainment == pytest.approx(1 - (7 * DAY + 2.5 * H) / (10 * DAY))
    assert (report.rto.slots_met, report.rto.slots_counted) == (1, 2)  # [20,25) missed, [25,30) met


def test_objectives_in_force_only_after_the_period_attain_nothing_and_miss_nothing():
    report = build_policy(new_policy(in_force_from=at(40)), MONTH, now=MONTH.until)
    assert report.in_force.coverage == 0.0
    assert report.rpo.attainment is None and report.rpo.met is None and report.rpo.within(0.0) is None
    assert report.verified_rpo.attainment is None and report.rto.attainment is None
    assert report.rpo_met and report.rto_met  # `drkit report --check` does not fail on it
    assert any("in force only from 2026-02-10T00:00:00.000000Z (objectives.in_force_from), after this period"
               in c for c in report.caveats)
    assert not any("RTO attainment is undefined" in c for c in report.caveats)


def test_no_evidence_at_all_is_in_force_throughout_and_attains_nothing():
    report = build_policy(facts(points=(), listed_at=None, first_evidence_at=None), PERIOD, now=T1)
    assert report.in_force.since is None and report.in_force.coverage == 1.0
    assert report.rpo.attainment == 0.0 and not report.rpo_met


def test_projection_basis_names_method_drills_model_and_spread():
    big = drill(at(5, 10), 1, restore_verify_s=3000, bytes_restored=10**9)
    report = build_policy(replace(rto_facts(), drills=(big,)), PERIOD, now=T1)
    assert report.projection_basis == ("1 drill of 1.0 GB, each split at the restore's first byte into fixed and "
                                       "data time: 10m fixed + 2.0 GB at 333.3 kB/s")
    assert any("predate drkit's time-to-first-byte measurement" in c for c in report.caveats)


def test_far_extrapolation_gets_a_caveat():
    small = drill(at(5, 10), 1, restore_verify_s=60, bytes_restored=10**8)
    report = build_policy(replace(rto_facts(), drills=(small,)), PERIOD, now=T1)
    assert report.rto.projection.extrapolation == pytest.approx(20)
    assert any("extrapolates 20x beyond the largest drill (100.0 MB)" in c for c in report.caveats)


# --- RPO per repository (docs/repositories.md) ------------------------------------------------


def test_a_copy_has_its_own_rpo_counted_from_its_copy_runs():
    from drkit.core.compliance import CopyRun
    from drkit.views.report.model import CopyFacts

    points = tuple(daily_points(skip=()))
    # Copied once a day at 06:00, except that Jan 5's (day 4) snapshot never reaches the copy.
    runs = tuple(CopyRun(at(d, 6), ((p.id, p.time),)) for d, p in zip(range(-1, 10), points) if d != 4)
    late = CopyFacts("offsite", runs, first_run_at=at(-1, 6))
    never = CopyFacts("cold", (), first_run_at=None)
    report = build_policy(facts(rpo_s=25 * H, points=points, copies=(late, never)), PERIOD, now=T1)
    first, offsite, cold = report.repositories
    assert (first.name, first.copy_of, first.rpo) == ("primary", None, report.rpo)
    assert offsite.copy_of == "primary" and offsite.last_copy_at == at(9, 6)
    # Each copied capture is 25 h old at 03:00 the next day and its successor arrives at 06:00; the
    # Jan 4 capture is the newest in the copy until the Jan 6 run.
    assert offsite.rpo.breach_windows == ([Window(at(d, 3), at(d, 6)) for d in range(4)] + [Window(at(4, 3), at(5, 6))]
                                          + [Window(at(d, 3), at(d, 6)) for d in range(6, 10)])
    assert offsite.rpo.current_exposure_s == 22 * H and offsite.rpo.worst_exposure_s == 52 * H
    assert cold.rpo.attainment == 0.0 and cold.rpo.current_exposure_s is None  # never copied into
    copied_late = CopyFacts("offsite", runs, first_run_at=at(8, 6))  # added to the policy on Jan 9
    assert build_policy(facts(rpo_s=25 * H, points=points, copies=(copied_late,)), PERIOD,
                        now=T1).repositories[1].rpo.breach_seconds < offsite.rpo.breach_seconds
