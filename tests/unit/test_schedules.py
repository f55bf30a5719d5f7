"""Schedule phrases: parsing as `schedule` reads them, occurrence math, systemd and cron forms."""

from __future__ import annotations

import os
import shutil
import subprocess
import time as time_module
from collections.abc import Iterator
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import schedule
from clocks import SchedulerClock

from drkit.core.schedules import SchedulePhrase, parse_phrase

UTC = timezone.utc
STOCKHOLM = ZoneInfo("Europe/Stockholm")

PHRASES = [
    ("every day at 01:30", 1, "days", "01:30"),
    ("every sunday at 04:00", 1, "sunday", "04:00"),
    ("every monday", 1, "monday", None),
    ("every 15 minutes", 15, "minutes", None),
    ("every 5 seconds", 5, "seconds", None),
    ("every hour", 1, "hours", None),
    ("every 2 hours", 2, "hours", None),
    ("every hour at :15", 1, "hours", ":15"),
    ("every minute at :30", 1, "minutes", ":30"),
    ("every day", 1, "days", None),
    ("every 3 days at 02:00", 3, "days", "02:00"),
    ("every week", 1, "weeks", None),
    ("every 2 weeks", 2, "weeks", None),
    ("every saturday at 23:59:59", 1, "saturday", "23:59:59"),
    ("every 2 hours at 05:30", 2, "hours", "05:30"),
    ("every 7 minutes", 7, "minutes", None),
]
TEXTS = [text for text, *_ in PHRASES]


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


# --- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "interval", "unit", "at"), PHRASES)
def test_documented_phrases_parse(text: str, interval: int, unit: str, at: str | None) -> None:
    assert parse_phrase(text) == SchedulePhrase(text=text, interval=interval, unit=unit, at=at)


def test_case_and_extra_whitespace_are_tolerated() -> None:
    phrase = parse_phrase("  Every   Sunday  AT 04:00 ")
    assert (phrase.interval, phrase.unit, phrase.at) == (1, "sunday", "04:00")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("every sundy", "unknown unit 'sundy'"),
        ("every sundy at 04:00", "unknown unit 'sundy'"),
        ("every weekday", "unknown unit 'weekday'"),  # `schedule` has no weekday unit
        ("every 0 minutes", "at least 1"),
        ("every day at 25:00", "invalid time '25:00'"),
        ("every day at 1:30", "invalid time '1:30'"),
        ("every hour at 01:30:00", "invalid time '01:30:00'"),
        ("every minute at :75", "invalid time ':75'"),
        ("every week at 01:00", "'at' needs"),
        ("every 5 seconds at :10", "'at' needs"),
        ("at 01:30", "not a schedule phrase"),
        ("every 2 mondays", "unknown unit 'mondays'"),
        ("every 2 monday", "takes no count"),
        ("every 2 hour", "write 'hours'"),
        ("every 1.5 hours", "not a schedule phrase"),
        ("", "not a schedule phrase"),
        ("every 99999999999999 days", "too large"),
    ],
)
def test_bad_phrases_are_rejected_with_the_text_and_an_example(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_phrase(text)
    message = str(caught.value)
    assert repr(text) in message
    assert reason in message
    assert "e.g." in message and "\n" not in message


def test_register_adds_a_job_that_passes_arguments() -> None:
    calls = []
    scheduler = schedule.Scheduler()
    job = parse_phrase("every sunday at 04:00").register(scheduler, calls.append, "shop-db")
    assert scheduler.jobs == [job]
    assert (job.unit, job.start_day, job.at_time) == ("weeks", "sunday", time(4, 0))
    job.run()
    assert calls == ["shop-db"]


@pytest.mark.parametrize(
    ("text", "interval"),
    [
        ("every day", timedelta(days=1)),
        ("every sunday at 04:00", timedelta(days=7)),
        ("every 15 minutes", timedelta(minutes=15)),
        ("every 3 days at 02:00", timedelta(days=3)),
        ("every 2 weeks", timedelta(weeks=2)),
        ("every minute at :30", timedelta(minutes=1)),
    ],
)
def test_nominal_interval(text: str, interval: timedelta) -> None:
    assert parse_phrase(text).nominal_interval == interval


# --- occurrences ------------------------------------------------------------------------


def test_daily_occurrences_include_both_ends() -> None:
    phrase = parse_phrase("every day at 01:30")
    found = phrase.occurrences(utc(2026, 3, 1, 1, 30), utc(2026, 3, 4, 1, 30), UTC)
    assert found == [utc(2026, 3, d, 1, 30) for d in (1, 2, 3, 4)]


def test_weekly_occurrences_fall_on_the_weekday() -> None:
    found = parse_phrase("every sunday at 04:00").occurrences(utc(2026, 3, 1), utc(2026, 4, 1), UTC)
    assert found == [utc(2026, 3, d, 4) for d in (1, 8, 15, 22, 29)]


def test_weekday_without_time_keeps_the_anchor_time_of_day() -> None:
    phrase = parse_phrase("every monday")
    found = phrase.occurrences(utc(2026, 3, 1), utc(2026, 3, 20), UTC, anchor=utc(2026, 3, 4, 9, 15))
    assert found == [utc(2026, 3, 2, 9, 15), utc(2026, 3, 9, 9, 15), utc(2026, 3, 16, 9, 15)]


def test_interval_occurrences_are_anchored_and_extend_before_the_anchor() -> None:
    phrase = parse_phrase("every 15 minutes")
    anchor = utc(2026, 3, 1, 0, 35)
    found = phrase.occurrences(utc(2026, 3, 1, 0, 0), utc(2026, 3, 1, 1, 0), UTC, anchor=anchor)
    assert found == [utc(2026, 3, 1, 0, m) for m in (5, 20, 35, 50)]


def test_interval_occurrences_default_to_the_range_start_as_anchor() -> None:
    start = utc(2026, 3, 1, 0, 7, 30)
    found = parse_phrase("every 2 hours").occurrences(start, start + timedelta(hours=6), UTC)
    assert found == [start + timedelta(hours=h) for h in (0, 2, 4, 6)]


def test_every_n_days_at_a_time_counts_days_from_the_anchor_day() -> None:
    phrase = parse_phrase("every 3 days at 02:00")
    found = phrase.occurrences(utc(2026, 3, 1), utc(2026, 3, 10, 2), UTC, anchor=utc(2026, 3, 4, 17))
    assert found == [utc(2026, 3, d, 2) for d in (1, 4, 7, 10)]


def test_minute_of_hour_and_second_of_minute() -> None:
    hourly = parse_phrase("every hour at :15").occurrences(utc(2026, 3, 1, 10), utc(2026, 3, 1, 13), UTC)
    assert hourly == [utc(2026, 3, 1, h, 15) for h in (10, 11, 12)]
    start = utc(2026, 3, 1, 10)
    minutely = parse_phrase("every minute at :30").occurrences(start, start + timedelta(minutes=3), UTC)
    assert minutely == [utc(2026, 3, 1, 10, m, 30) for m in (0, 1, 2)]


def test_at_times_are_read_in_the_given_zone() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # +05:30: minute 15 of a local hour is minute 45 in UTC
    found = parse_phrase("every hour at :15").occurrences(utc(2026, 3, 1, 10), utc(2026, 3, 1, 12), kolkata)
    assert found == [utc(2026, 3, 1, 10, 45), utc(2026, 3, 1, 11, 45)]


def test_daily_time_stays_on_the_wall_clock_across_dst() -> None:
    found = parse_phrase("every day at 01:30").occurrences(utc(2026, 3, 28), utc(2026, 3, 31), STOCKHOLM)
    # Summer time starts at 02:00 on the 29th: 01:30 is CET that day, CEST the next.
    assert found == [
        utc(2026, 3, 28, 0, 30),
        utc(2026, 3, 29, 0, 30),
        utc(2026, 3, 29, 23, 30),
        utc(2026, 3, 30, 23, 30),
    ]


def test_time_in_a_dst_gap_fires_when_the_clock_jumps_and_a_repeated_time_once() -> None:
    phrase = parse_phrase("every day at 02:30")
    spring = phrase.occurrences(utc(2026, 3, 29), utc(2026, 3, 29, 23), STOCKHOLM)
    assert spring == [utc(2026, 3, 29, 1, 0)]  # 02:30 does not exist; the clock jumps to 03:00 CEST
    autumn = phrase.occurrences(utc(2026, 10, 24, 23), utc(2026, 10, 25, 23), STOCKHOLM)
    assert autumn == [utc(2026, 10, 25, 0, 30)]  # 02:30 CEST, not again at 02:30 CET


def test_a_year_of_quarter_hours_is_complete_and_in_order() -> None:
    start = utc(2026, 1, 1)
    found = parse_phrase("every 15 minutes").occurrences(start, utc(2027, 1, 1), UTC)
    assert len(found) == 365 * 96 + 1
    assert found[0] == start and found[-1] == utc(2027, 1, 1)
    assert all(later - earlier == timedelta(minutes=15) for earlier, later in zip(found, found[1:]))


def test_a_local_clock_interval_has_a_gap_when_clocks_fall_back() -> None:
    """`schedule` adds intervals to naive local time, so the repeated hour gets no runs."""
    found = parse_phrase("every 15 minutes").occurrences(utc(2026, 10, 24), utc(2026, 10, 26), STOCKHOLM)
    gaps = {later - earlier for earlier, later in zip(found, found[1:])}
    assert gaps == {timedelta(minutes=15), timedelta(minutes=75)}


def test_previous_and_next_occurrence_are_strict() -> None:
    phrase = parse_phrase("every sunday at 04:00")
    sunday = utc(2026, 3, 8, 4)
    assert phrase.previous_occurrence(utc(2026, 3, 4), UTC) == utc(2026, 3, 1, 4)
    assert phrase.previous_occurrence(sunday, UTC) == utc(2026, 3, 1, 4)
    assert phrase.next_occurrence(sunday, UTC) == utc(2026, 3, 15, 4)
    assert phrase.next_occurrence(sunday - timedelta(microseconds=1), UTC) == sunday


def test_previous_and_next_of_an_interval_use_the_anchor() -> None:
    phrase = parse_phrase("every 15 minutes")
    anchor = utc(2026, 3, 1, 0, 5)
    assert phrase.previous_occurrence(utc(2026, 3, 4, 12), UTC, anchor) == utc(2026, 3, 4, 11, 50)
    assert phrase.next_occurrence(utc(2026, 3, 4, 12), UTC, anchor) == utc(2026, 3, 4, 12, 5)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_phrase("every day").occurrences(datetime(2026, 3, 1), utc(2026, 3, 2))


# --- agreement with the `schedule` library ------------------------------------------------

ONE_STEP_AT_PHRASES = [
    "every day at 01:30",
    "every day at 02:30",
    "every sunday at 04:00",
    "every saturday at 23:59:59",
    "every hour at :15",
    "every minute at :30",
]


@pytest.mark.parametrize("text", ONE_STEP_AT_PHRASES)
def test_first_occurrence_is_schedules_next_run(text: str) -> None:
    now = datetime.now(UTC)
    job = parse_phrase(text).register(schedule.Scheduler(), lambda: None)
    found = parse_phrase(text).occurrences(now, now + timedelta(days=8))
    assert found[0] == job.next_run.astimezone(UTC)  # next_run is naive local time


@pytest.fixture
def local_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with the process's local zone set to request.param."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time_module.tzset()
    try:
        yield request.param
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time_module.tzset()


def assert_job_fires_first_at(job: schedule.Job, clock: SchedulerClock, moment: datetime) -> None:
    """Ask the job itself (`should_run`, as `run_pending` does), which also covers DST gaps."""
    clock.now = moment - timedelta(microseconds=1)
    assert not job.should_run, f"due before {moment}"
    clock.now = moment
    assert job.should_run, f"not due at {moment}"


AGREEING_PHRASES = [t for t in TEXTS if t not in ("every 3 days at 02:00", "every 2 hours at 05:30")]
# An ordinary moment, then the edges of daylight saving time in Stockholm and New York.
MOMENTS = [
    utc(2026, 3, 4, 10, 37, 13, 250000),
    utc(2026, 3, 29, 0, 45),
    utc(2026, 10, 25, 0, 40),
    utc(2026, 3, 8, 6, 50),
    utc(2026, 11, 1, 5, 40),
]


LOCAL_ZONES = ["UTC", "Europe/Stockholm", "America/New_York", "Asia/Kolkata"]


@pytest.mark.parametrize("local_zone", LOCAL_ZONES, indirect=True)
@pytest.mark.parametrize("now", MOMENTS, ids=lambda m: m.strftime("%m%dT%H%M"))
@pytest.mark.parametrize("text", AGREEING_PHRASES)
def test_next_occurrence_is_schedules_next_run_in_local_zones(
    monkeypatch: pytest.MonkeyPatch, local_zone: str, now: datetime, text: str
) -> None:
    clock = SchedulerClock(monkeypatch, now)
    phrase = parse_phrase(text)
    job = phrase.register(schedule.Scheduler(), lambda: None)
    assert_job_fires_first_at(job, clock, phrase.next_occurrence(now))


@pytest.mark.parametrize("local_zone", ["UTC"], indirect=True)
@pytest.mark.parametrize("text", ["every 3 days at 02:00", "every 2 hours at 05:30"])
def test_counted_phrases_agree_once_the_time_has_passed(
    monkeypatch: pytest.MonkeyPatch, local_zone: str, text: str
) -> None:
    now = utc(2026, 3, 4, 10, 37, 13)
    clock = SchedulerClock(monkeypatch, now)
    phrase = parse_phrase(text)
    job = phrase.register(schedule.Scheduler(), lambda: None)
    assert_job_fires_first_at(job, clock, phrase.next_occurrence(now))


@pytest.mark.parametrize("local_zone", ["UTC"], indirect=True)
def test_with_a_count_schedule_skips_the_rest_of_the_first_day(
    monkeypatch: pytest.MonkeyPatch, local_zone: str
) -> None:
    """The caveat in `occurrences`' docstring: the grid has today 02:00, `schedule` waits 3 days."""
    now = utc(2026, 3, 4, 1, 0)
    SchedulerClock(monkeypatch, now)
    phrase = parse_phrase("every 3 days at 02:00")
    job = phrase.register(schedule.Scheduler(), lambda: None)
    assert phrase.next_occurrence(now) == utc(2026, 3, 4, 2)
    assert job.next_run.astimezone(UTC) == utc(2026, 3, 7, 2)


# --- systemd and cron -------------------------------------------------------------------

ONCALENDAR = [
    ("every day at 01:30", "*-*-* 01:30:00"),
    ("every sunday at 04:00", "Sun *-*-* 04:00:00"),
    ("every monday", "Mon *-*-* 00:00:00"),
    ("every 15 minutes", "*:0/15"),
    ("every hour at :15", "*-*-* *:15:00"),
    ("every 5 seconds", "*:*:0/5"),
    ("every 2 hours", "0/2:00:00"),
    ("every hour", "*-*-* *:00:00"),
    ("every minute at :30", "*:*:30"),
    ("every day", "*-*-* 00:00:00"),
    ("every week", "Mon *-*-* 00:00:00"),
    ("every saturday at 23:59:59", "Sat *-*-* 23:59:59"),
    ("every 2 hours at 05:30", "0/2:05:30"),
    ("every 60 minutes", "*:00"),
    ("every 24 hours", "00:00:00"),
]


@pytest.mark.parametrize(("text", "expression"), ONCALENDAR)
def test_oncalendar(text: str, expression: str) -> None:
    phrase = parse_phrase(text)
    assert phrase.to_oncalendar() == expression
    assert phrase.to_systemd_timer_lines()[0] == f"OnCalendar={expression}"


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("every 3 days at 02:00", ["OnBootSec=15min", "OnUnitActiveSec=3d"]),
        ("every 2 weeks", ["OnBootSec=15min", "OnUnitActiveSec=2w"]),
        ("every 7 minutes", ["OnBootSec=7min", "OnUnitActiveSec=7min"]),
        ("every 5 hours", ["OnBootSec=15min", "OnUnitActiveSec=5h"]),
        ("every 7 seconds", ["OnBootSec=7s", "OnUnitActiveSec=7s", "AccuracySec=1s"]),
    ],
)
def test_intervals_the_calendar_cannot_express_use_monotonic_timers(text: str, lines: list[str]) -> None:
    phrase = parse_phrase(text)
    assert phrase.to_systemd_timer_lines() == lines
    with pytest.raises(ValueError, match="to_systemd_timer_lines"):
        phrase.to_oncalendar()


def test_sub_minute_timers_ask_for_one_second_accuracy() -> None:
    lines = parse_phrase("every 5 seconds").to_systemd_timer_lines()
    assert lines == ["OnCalendar=*:*:0/5", "AccuracySec=1s"]


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
ALL_TEXTS = TEXTS + ["every 60 minutes", "every 24 hours", "every 5 hours", "every 7 seconds"]


@needs_systemd
@pytest.mark.parametrize("text", ALL_TEXTS)
def test_systemd_accepts_every_timer_line(text: str) -> None:
    for line in parse_phrase(text).to_systemd_timer_lines():
        key, value = line.split("=", 1)
        verb = "calendar" if key == "OnCalendar" else "timespan"
        result = subprocess.run([SYSTEMD_ANALYZE, verb, value], capture_output=True, text=True)
        assert result.returncode == 0, f"{line}: {result.stderr}"


@needs_systemd
@pytest.mark.parametrize("text", [text for text, _ in ONCALENDAR])
def test_systemd_fires_when_occurrences_say(text: str) -> None:
    """With a clock-aligned anchor (midnight, a Monday), systemd's elapse times are our grid."""
    base = utc(2026, 3, 4, 10, 37, 13)
    phrase = parse_phrase(text)
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "calendar", "--iterations=4", f"--base-time={base:%Y-%m-%d %H:%M:%S} UTC",
         phrase.to_oncalendar()],
        capture_output=True, text=True, env={**os.environ, "TZ": "UTC"}, check=True,
    )
    elapses = [
        datetime.strptime(line.split(": ", 1)[1], "%a %Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
        for line in result.stdout.splitlines()
        if line.strip().startswith(("Next elapse:", "Iter. #"))
    ]
    found = phrase.occurrences(base, base + 4 * phrase.nominal_interval, UTC, anchor=utc(2026, 3, 2))
    assert elapses == found[:4]


@pytest.mark.parametrize(
    ("text", "cron"),
    [
        ("every day at 01:30", "30 1 * * *"),
        ("every sunday at 04:00", "0 4 * * 0"),
        ("every saturday at 05:00", "0 5 * * 6"),
        ("every monday", "0 0 * * 1"),
        ("every 15 minutes", "*/15 * * * *"),
        ("every minute", "* * * * *"),
        ("every 60 minutes", "0 * * * *"),
        ("every hour", "0 * * * *"),
        ("every hour at :15", "15 * * * *"),
        ("every 2 hours", "0 */2 * * *"),
        ("every day", "0 0 * * *"),
        ("every week", "0 0 * * 1"),
        ("every 5 seconds", None),
        ("every minute at :30", None),
        ("every saturday at 23:59:59", None),
        ("every 7 minutes", None),
        ("every 5 hours", None),
        ("every 3 days at 02:00", None),
        ("every 2 weeks", None),
    ],
)
def test_cron(text: str, cron: str | None) -> None:
    assert parse_phrase(text).to_cron() == cron
