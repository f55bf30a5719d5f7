"""The HTML report's charts as geometry (drkit/views/report/charts.py): readable RTAs against a
large RTO, round time ticks, thinned series, and the same bytes for the same report."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from report_builders import PERIOD, T1, drill, facts, rto_facts

from drkit.core.compliance import Period
from drkit.views.report import charts
from drkit.views.report.html import render
from drkit.views.report.model import build_policy, build_report


def test_a_20_second_drill_against_a_4_hour_rto_is_far_from_both_the_floor_and_the_rto_line():
    fast = facts(drills=(drill(PERIOD.since + timedelta(days=2), 20 / 3600),), rto_s=4 * 3600)
    chart = charts.rta_chart(build_policy(fast, PERIOD, T1), PERIOD)
    [mark] = chart.marks
    [rto] = [r for r in chart.rules if r.css == "target"]
    height = chart.bottom - chart.top
    # linear, 20 s would sit 0.1 % of the height above the floor; on the log axis it is well clear
    assert chart.bottom - mark.y > 0.15 * height and mark.y - rto.y > 0.3 * height
    labels = [t.label for t in chart.y_ticks]
    assert "4h" in " ".join(r.label for r in chart.rules) and {"1m", "1h"} <= set(labels), labels
    assert "0.1% of the RTO" in mark.title


def test_log_ticks_are_round_durations_inside_the_axis_and_few():
    for low, high in ((0.5, 50), (5, 86400 * 14), (600, 60000)):
        ticks = charts.log_ticks(charts.LogScale(low, high))
        assert 1 <= len(ticks) <= charts.MAX_LOG_TICKS
        assert [t.pos for t in ticks] == sorted((t.pos for t in ticks), reverse=True)  # up the page


def test_time_ticks_are_round_utc_moments_at_most_eight():
    day = datetime(2026, 3, 1, tzinfo=timezone.utc)
    for span, shape in ((timedelta(hours=6), ":"), (timedelta(days=30), " "), (timedelta(days=730), " 20")):
        ticks = charts.time_ticks(Period(day + timedelta(minutes=7), day + span))
        assert 2 <= len(ticks) <= charts.MAX_TIME_TICKS and all(shape in t.label for t in ticks), ticks
        assert all(charts.LEFT <= t.pos <= charts.WIDTH - charts.RIGHT for t in ticks)


def test_a_year_of_15_minute_backups_is_thinned_to_what_can_be_drawn():
    vertices = [(charts.LEFT + i * 0.01, float(i % 7)) for i in range(35_000)]
    [line] = charts._polylines(vertices)
    assert len(line.split()) < 3_000
    ys = {float(p.split(",")[1]) for p in line.split()}
    assert {0.0, 6.0} <= ys  # the extremes survive


def test_an_unbounded_stretch_breaks_the_exposure_line():
    assert len(charts._polylines([(1, 1.0), (2, 2.0), (3, None), (4, 1.0), (5, 2.0)])) == 2


def test_the_same_report_renders_to_the_same_bytes():
    def page() -> str:
        return render(build_report([rto_facts(), replace(facts(), name="web")], PERIOD, T1))
    assert page() == page()
