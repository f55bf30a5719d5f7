"""Which jobs the daemon registers, when it catches up, and that `scheduler plan` shows exactly the
runs the `schedule` library will make."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import schedule
from clocks import SchedulerClock

from drkit.core.policy import Policy
from drkit.core.schedules import parse_phrase
from drkit.daemon.scheduler import JobSpec, catch_up_due, first_runs_now, job_specs, plan

UTC = timezone.utc


def make_policy(name: str, **schedule_phrases: str) -> Policy:
    return Policy.model_validate({
        "version": 1, "name": name, "objectives": {"rpo": "1d", "rto": "4h"},
        "targets": [{"path": "/srv/data"}], "schedule": schedule_phrases,
        "repository": {"url": "/srv/repo", "password_env": "PW"},
    })


def test_every_scheduled_job_is_registered_in_catch_up_order() -> None:
    a = make_policy("a", drill="every sunday at 04:00", backup="every day at 01:30", check="every saturday at 05:00",
                    forget="every day at 03:00")
    b = make_policy("b", backup="every 15 minutes")
    c = make_policy("c")
    specs = job_specs([a, b, c])
    assert [(s.policy, s.job) for s in specs] == [("a", "backup"), ("a", "forget"), ("a", "check"), ("a", "drill"),
                                                  ("b", "backup")]
    assert specs[0].phrase.text == "every day at 01:30"
    assert specs[0].key == "a/backup"


NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("last, due", [
    (None, True),                                     # never ran
    (NOW - timedelta(hours=25), True),                # older than a day
    (NOW - timedelta(days=1), True),                  # exactly one interval: due
    (NOW - timedelta(hours=23, minutes=59), False),   # ran within the interval
    (NOW - timedelta(minutes=1), False),
])
def test_a_daily_job_catches_up_when_its_last_run_is_older_than_a_day(last: datetime | None, due: bool) -> None:
    spec = JobSpec("a", "backup", parse_phrase("every day at 01:30"))
    assert catch_up_due(spec, last, NOW) is due


def test_a_weekly_drill_does_not_catch_up_after_a_run_six_days_ago() -> None:
    spec = JobSpec("a", "drill", parse_phrase("every sunday at 04:00"))
    assert not catch_up_due(spec, NOW - timedelta(days=6), NOW)
    assert catch_up_due(spec, NOW - timedelta(days=8), NOW)


# --- plan == what the schedule library runs ---------------------------------------------------

def daemon_runs(phrase: str, clock: SchedulerClock, until: datetime) -> list[datetime]:
    """Run a real `schedule.Scheduler` the way the daemon does, jumping the clock from run to run."""
    fired: list[datetime] = []
    scheduler = schedule.Scheduler()
    parse_phrase(phrase).register(scheduler, lambda: fired.append(clock.now))
    while True:
        due = scheduler.get_next_run().astimezone(UTC)  # naive local time
        if due > until:
            return fired
        clock.now = due
        scheduler.run_pending()


PHRASES = ["every 5 seconds", "every 15 minutes", "every 2 hours", "every hour at :15", "every day at 01:30",
           "every day at 23:59:59", "every sunday at 04:00", "every 3 days at 02:00", "every 2 hours at 05:30",
           "every week", "every 7 minutes"]


@pytest.mark.parametrize("phrase", PHRASES)
@pytest.mark.parametrize("start", [datetime(2026, 3, 4, 10, 37, 13, 250000, tzinfo=UTC),
                                   datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)], ids=["midweek", "new-year"])
def test_plan_lists_exactly_the_runs_the_schedule_library_makes(monkeypatch: pytest.MonkeyPatch, phrase: str,
                                                                 start: datetime) -> None:
    span = {"seconds": timedelta(minutes=3), "minutes": timedelta(days=2)}.get(phrase.split()[-1], timedelta(days=20))
    until = start + span
    clock = SchedulerClock(monkeypatch, start)
    specs = [JobSpec("p", "backup", parse_phrase(phrase))]
    planned = plan(specs, first_runs_now(specs), until)   # what `drkit scheduler plan` computes at `start`
    expected = daemon_runs(phrase, clock, until)          # what the daemon started at `start` runs
    assert len(expected) >= 2
    assert planned[0].runs == expected
    assert planned[0].total == len(expected)


def test_plan_continues_from_the_next_runs_a_running_daemon_published() -> None:
    spec = JobSpec("p", "backup", parse_phrase("every 10 minutes"))
    published = {"p/backup": datetime(2026, 3, 4, 10, 3, 20, tzinfo=UTC)}
    [planned] = plan([spec], published, datetime(2026, 3, 4, 10, 40, tzinfo=UTC))
    assert [t.strftime("%H:%M:%S") for t in planned.runs] == ["10:03:20", "10:13:20", "10:23:20", "10:33:20"]


def test_plan_truncates_long_lists_but_counts_every_run() -> None:
    spec = JobSpec("p", "backup", parse_phrase("every 5 seconds"))
    start = datetime(2026, 3, 4, tzinfo=UTC)
    [planned] = plan([spec], {"p/backup": start}, start + timedelta(days=1), limit=10)
    assert len(planned.runs) == 10
    assert planned.total == 17281
    assert planned.as_dict()["next"] == "2026-03-04T00:00:00.000000Z"


def test_a_job_whose_first_run_is_past_the_window_has_no_runs_but_still_a_next_run() -> None:
    spec = JobSpec("p", "drill", parse_phrase("every sunday at 04:00"))
    start = datetime(2026, 3, 4, tzinfo=UTC)  # a Wednesday
    [planned] = plan([spec], {"p/drill": datetime(2026, 3, 8, 4, tzinfo=UTC)}, start + timedelta(days=1))
    assert planned.runs == [] and planned.total == 0
    assert planned.as_dict()["next"] == "2026-03-08T04:00:00.000000Z"


def test_policies_without_a_schedule_give_an_empty_plan(tmp_path: Path) -> None:
    assert plan(job_specs([make_policy("a")]), {}, NOW) == []
