"""A frozen clock for the `schedule` library, shared by the schedule and scheduler-plan tests."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from types import SimpleNamespace

import pytest
import schedule


class SchedulerClock:
    """The time `schedule` sees; it reads the clock through its module-level `datetime` import."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, now: datetime) -> None:
        self.now = now
        clock = self

        class FrozenDatetime(datetime):
            @classmethod
            def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
                return clock.now.astimezone(tz) if tz else clock.now.astimezone().replace(tzinfo=None)

        module = SimpleNamespace(datetime=FrozenDatetime, timedelta=timedelta, time=time)
        monkeypatch.setattr(schedule, "datetime", module)
