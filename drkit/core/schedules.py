"""Schedule phrases of policy files ("every day at 01:30"), as the `schedule` library reads them.

The daemon hands phrases to `schedule` (https://schedule.readthedocs.io); compliance math needs
the same times as a pure function; `drkit install` needs them as systemd timers or crontab lines.
Keeping all three here means a phrase can never mean one thing to the daemon and another to a
report. Validation registers the job on a throwaway `schedule.Scheduler`, so whatever the library
rejects is rejected here too.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone, tzinfo
from typing import Any

import schedule

_PHRASE = re.compile(r"every(?:\s+(?P<interval>\d+))?\s+(?P<unit>[a-z]+)(?:\s+at\s+(?P<at>\S+))?")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_INTERVAL_UNITS = ("seconds", "minutes", "hours", "days", "weeks")
# Exactly the `schedule.Job` properties a phrase may name; never getattr() an arbitrary word.
_UNIT_WORDS = frozenset(_INTERVAL_UNITS) | {u[:-1] for u in _INTERVAL_UNITS} | set(_WEEKDAYS)
_EXAMPLES = "use e.g. 'every day at 01:30', 'every sunday at 04:00', 'every 15 minutes'"
# The forms `schedule.Job.at` accepts per unit, with an example to quote back to the user.
_AT_FORMS = {
    "days": ("HH:MM or HH:MM:SS, 00:00 to 23:59:59", "every day at 01:30"),
    "hours": ("MM:SS or :MM", "every hour at :15"),
    "minutes": (":SS", "every minute at :30"),
}
# UTC offsets span -12:00..+14:00, so a wall clock is never further than this from where the
# offset at a range's ends puts it; padding by it keeps DST changes (and Samoa's skipped day
# in 2011) from dropping occurrences at the edges of a range.
_OFFSET_SPREAD = timedelta(hours=26)
_RESOLUTION = timedelta(microseconds=1)
# OnUnitActiveSec counts from the last activation, which systemd forgets at reboot; a short
# OnBootSec restarts the chain without pushing the next run a whole interval out.
_BOOT_DELAY = timedelta(minutes=15)


@dataclass(frozen=True)
class SchedulePhrase:
    """A validated phrase. `unit` is 'seconds'..'weeks' or a weekday name ('monday'..'sunday').

    Times are wall-clock times in a time zone, as in `schedule` (which works on naive local
    datetimes): "every day at 01:30" stays at 01:30 across DST changes, a time inside a DST gap
    fires when the clock jumps past it (02:30 -> 03:00), a repeated time fires once, the first time.
    """

    text: str
    interval: int
    unit: str
    at: str | None

    def register(
        self, scheduler: schedule.Scheduler, job_func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> schedule.Job:
        """Add this phrase's job to a real scheduler."""
        return self._job(scheduler).do(job_func, *args, **kwargs)

    @property
    def nominal_interval(self) -> timedelta:
        """Time between runs on a plain day (no DST change): 'every sunday' is 7 days."""
        if self.unit in _WEEKDAYS:
            return timedelta(weeks=1)
        return timedelta(**{self.unit: self.interval})

    def occurrences(
        self, start: datetime, end: datetime, tz: tzinfo | None = None, anchor: datetime | None = None
    ) -> list[datetime]:
        """Every time the job fires in [start, end], as aware UTC datetimes, in order.

        `at` times are read in `tz` (default: this machine's local zone, like `schedule`).
        `anchor` (default `start`) fixes the phase of phrases that `schedule` counts from the
        moment the scheduler started ("every 15 minutes", "every day", "every 3 days at 02:00");
        the grid extends both ways, as if the scheduler had been running throughout. Two things
        the grid does not model: `schedule` counts plain intervals from the end of the previous
        run (a real scheduler drifts later by each run's duration), and with a count > 1 its
        first run after start-up is one full interval out, skipping a grid point still ahead
        that day/hour.
        """
        for name, value in (("start", start), ("end", end), ("anchor", anchor)):
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} {value.isoformat()} must be timezone-aware")
        if start > end:
            return []
        job = self._job(None)
        period = timedelta(**{job.unit: job.interval})
        base = _grid_base(job, _wall_clock(anchor or start, tz))

        def fires(k: int) -> datetime:
            return _instant(base + k * period, tz)

        # Grid steps whose wall clock lies within the zone's offset spread of the range; the
        # firing time grows with the step, so bisection finds the ones inside the range.
        steps = range(
            -((base - (_wall_clock(start, tz) - _OFFSET_SPREAD)) // period),
            (_wall_clock(end, tz) + _OFFSET_SPREAD - base) // period + 1,
        )
        inside = steps[bisect_left(steps, start, key=fires) : bisect_right(steps, end, key=fires)]
        return list(dict.fromkeys(fires(k) for k in inside))  # skipped wall-clock times coincide

    def next_occurrence(
        self, after: datetime, tz: tzinfo | None = None, anchor: datetime | None = None
    ) -> datetime:
        """First run strictly after `after` (what `schedule` calls next_run); anchor defaults to `after`."""
        for window in self._search_windows():
            found = [t for t in self.occurrences(after, after + window, tz, anchor or after) if t > after]
            if found:
                return found[0]
        raise AssertionError(f"{self.text!r}: no run within {window} after {after}")

    def previous_occurrence(
        self, before: datetime, tz: tzinfo | None = None, anchor: datetime | None = None
    ) -> datetime:
        """Last run strictly before `before`, e.g. the start of the slot a period begins in."""
        for window in self._search_windows():
            found = [t for t in self.occurrences(before - window, before, tz, anchor or before) if t < before]
            if found:
                return found[-1]
        raise AssertionError(f"{self.text!r}: no run within {window} before {before}")

    def _search_windows(self) -> tuple[timedelta, timedelta]:
        """One interval nearly always holds a run; a DST change can widen the gap by its offset."""
        return self.nominal_interval, self.nominal_interval + _OFFSET_SPREAD

    def to_oncalendar(self) -> str:
        """systemd OnCalendar= expression; ValueError when the calendar cannot express the phrase.

        Calendar grids are aligned to the clock (midnight, the top of the hour) where `schedule`
        aligns them to when the scheduler started: same cadence, possibly another phase.
        """
        expression = self._oncalendar()
        if expression is None:
            raise ValueError(
                f"{self.text!r} cannot be written as an OnCalendar expression; use to_systemd_timer_lines()"
            )
        return expression

    def to_systemd_timer_lines(self) -> list[str]:
        """[Timer] lines: OnCalendar= when possible, else OnBootSec= + OnUnitActiveSec=.

        The monotonic fallback ("every 3 days", "every 7 minutes") loses any `at` time: systemd
        has no "every N days from an anchor" calendar. Sub-minute phrases get AccuracySec=1s,
        since systemd's default 1min accuracy would merge their runs.
        """
        expression = self._oncalendar()
        if expression is not None:
            lines = [f"OnCalendar={expression}"]
        else:
            period = self.nominal_interval
            boot = _timespan(min(period, _BOOT_DELAY))
            lines = [f"OnBootSec={boot}", f"OnUnitActiveSec={_timespan(period)}"]
        if self.unit == "seconds":
            lines.append("AccuracySec=1s")
        return lines

    def to_cron(self) -> str | None:
        """Five-field crontab expression, or None when cron cannot say it (seconds, uneven steps)."""
        job = self._job(None)
        clock = job.at_time or time(0, 0, 0)
        n = self.interval
        if clock.second or self.unit == "seconds":
            return None
        if self.unit in _WEEKDAYS:
            return f"{clock.minute} {clock.hour} * * {(_WEEKDAYS.index(self.unit) + 1) % 7}"
        if self.unit == "minutes" and 60 % n == 0:
            return f"{_cron_step(n, 60)} * * * *"
        if self.unit == "hours" and 24 % n == 0:
            return f"{clock.minute} {_cron_step(n, 24)} * * *"
        if self.unit == "days" and n == 1:
            return f"{clock.minute} {clock.hour} * * *"
        if self.unit == "weeks" and n == 1:
            return "0 0 * * 1"  # systemd's `weekly`, so both installers agree
        return None

    def _oncalendar(self) -> str | None:
        job = self._job(None)
        clock = job.at_time or time(0, 0, 0)
        n = self.interval
        if self.unit in _WEEKDAYS:
            return f"{self.unit[:3].title()} *-*-* {clock:%H:%M:%S}"
        if self.unit == "seconds" and 60 % n == 0:
            return f"*:*:{_calendar_step(n, 60)}"
        if self.unit == "minutes" and 60 % n == 0:
            minutes = f"*:{_calendar_step(n, 60)}"
            return minutes if job.at_time is None else f"{minutes}:{clock.second:02d}"
        if self.unit == "hours" and 24 % n == 0:
            if n == 1:
                return f"*-*-* *:{clock:%M:%S}"
            return f"{_calendar_step(n, 24)}:{clock:%M:%S}"
        if self.unit == "days" and n == 1:
            return f"*-*-* {clock:%H:%M:%S}"
        if self.unit == "weeks" and n == 1:
            return "Mon *-*-* 00:00:00"  # systemd's `weekly`
        return None

    def _job(self, scheduler: schedule.Scheduler | None) -> schedule.Job:
        """An unstarted `schedule.Job`; reading its unit/at_time lets the library interpret the phrase."""
        job = schedule.Job(self.interval, scheduler)
        return _configure(job, self.text, self.interval, self.unit, self.at)


def parse_phrase(text: str) -> SchedulePhrase:
    """Parse `every [N] UNIT [at TIME]`; ValueError with a one-line message and an example."""
    match = _PHRASE.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r}: not a schedule phrase 'every [N] UNIT [at TIME]'; {_EXAMPLES}")
    word, at = match["unit"], match["at"]
    if word not in _UNIT_WORDS:
        raise ValueError(f"{text!r}: unknown unit {word!r}; {_EXAMPLES}")
    interval = int(match["interval"] or 1)
    if interval < 1:
        raise ValueError(f"{text!r}: the count must be at least 1; {_EXAMPLES}")
    job = _configure(schedule.Scheduler().every(interval), text, interval, word, at)
    try:
        job.do(lambda: None)
    except OverflowError:
        raise ValueError(f"{text!r}: the count {interval} is too large; {_EXAMPLES}") from None
    except schedule.ScheduleError as err:
        raise ValueError(f"{text!r}: {err}; {_EXAMPLES}") from None
    unit = word if word in _WEEKDAYS else job.unit
    return SchedulePhrase(text=text, interval=interval, unit=unit, at=at)


def _configure(job: schedule.Job, text: str, interval: int, word: str, at: str | None) -> schedule.Job:
    """Apply UNIT and `at` to a job, turning the library's complaints into actionable ValueErrors."""
    try:
        job = getattr(job, word)
    except schedule.IntervalError:
        if word in _WEEKDAYS:
            raise ValueError(
                f"{text!r}: a weekday repeats every week and takes no count; use e.g. 'every {word}'"
            ) from None
        raise ValueError(
            f"{text!r}: write '{word}s' after a count; use e.g. 'every {interval} {word}s'"
        ) from None
    if at is None:
        return job
    try:
        return job.at(at)
    except schedule.ScheduleValueError:
        form = _AT_FORMS.get("days" if job.start_day else job.unit)
        if form is None:
            raise ValueError(
                f"{text!r}: 'at' needs days, hours, minutes or a weekday; use e.g. 'every day at 01:30'"
            ) from None
        expected, example = form
        raise ValueError(
            f"{text!r}: invalid time {at!r} (expected {expected}); use e.g. '{example}'"
        ) from None


def _grid_base(job: schedule.Job, anchor: datetime) -> datetime:
    """One run on the job's grid, from the anchor's wall clock, as `Job._schedule_next_run` places it."""
    if job.start_day is not None:
        anchor += timedelta(days=(_WEEKDAYS.index(job.start_day) - anchor.weekday()) % 7)
    if job.at_time is None:
        return anchor
    clock = job.at_time
    fields: dict[str, int] = {"second": clock.second, "microsecond": 0}
    if job.unit in ("days", "hours") or job.start_day is not None:
        fields["minute"] = clock.minute
    if job.unit == "days" or job.start_day is not None:
        fields["hour"] = clock.hour
    return anchor.replace(**fields)


def _wall_clock(moment: datetime, tz: tzinfo | None) -> datetime:
    """Naive wall-clock time of an instant in `tz` (None: the machine's zone, as `schedule` uses)."""
    return moment.astimezone(tz).replace(tzinfo=None)


def _instant(wall_clock: datetime, tz: tzinfo | None) -> datetime:
    """First UTC instant at which the clock in `tz` shows `wall_clock` or later.

    That is when `schedule` (comparing naive `now() >= next_run`) runs a job: at the first
    occurrence of a repeated time, and at the end of a DST gap for a time the clock skips.
    """
    first = _to_utc(wall_clock, tz, fold=0)  # PEP 495: fold=0 is the first of a repeated time
    if _wall_clock(first, tz) == wall_clock:
        return first
    earlier, later = sorted((first, _to_utc(wall_clock, tz, fold=1)))
    # In a gap the clock jumps from before `wall_clock` (at `earlier`) to after it (at `later`);
    # zoneinfo does not expose the transition, so find it by bisection (rare: twice a year).
    while later - earlier > _RESOLUTION:
        middle = earlier + (later - earlier) // 2
        if _wall_clock(middle, tz) >= wall_clock:
            later = middle
        else:
            earlier = middle
    return later


def _to_utc(wall_clock: datetime, tz: tzinfo | None, fold: int) -> datetime:
    local = wall_clock.replace(fold=fold) if tz is None else wall_clock.replace(tzinfo=tz, fold=fold)
    return local.astimezone(timezone.utc)


def _calendar_step(n: int, width: int) -> str:
    # systemd rejects a repetition as wide as the field ("*:0/60"), so a full cycle is just 00.
    return "*" if n == 1 else "00" if n == width else f"0/{n}"


def _cron_step(n: int, width: int) -> str:
    return "*" if n == 1 else "0" if n == width else f"*/{n}"


def _timespan(span: timedelta) -> str:
    """systemd time span in the largest unit that divides it exactly ("3d", "15min", "7s")."""
    seconds = int(span.total_seconds())
    for suffix, size in (("w", 604800), ("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{suffix}"
    return f"{seconds}s"
