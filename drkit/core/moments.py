"""Moments written by people: `drkit report --since/--until` and `objectives.in_force_from`.

One reading for both: an ISO date is its midnight UTC, a datetime without an offset is UTC, and
every moment comes back timezone-aware in UTC, so the compliance math never compares naive and
aware times.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone

EXAMPLES = "e.g. 2026-03-01 or 2026-03-01T12:00:00Z"


def parse_moment(text: str) -> datetime:
    """ISO date or datetime; naive means UTC. A bare date is its midnight (UTC)."""
    text = text.strip()
    try:
        if len(text) == 10:
            return utc_moment(date.fromisoformat(text))
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO date or datetime ({EXAMPLES})") from None
    return utc_moment(moment)


def utc_moment(value: date | datetime | str) -> datetime:
    """A date, datetime or ISO text as an aware UTC datetime (YAML hands dates and datetimes over
    already parsed; quoted ones arrive as text)."""
    if isinstance(value, str):
        return parse_moment(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=timezone.utc)
    raise ValueError(f"expected an ISO date or datetime ({EXAMPLES})")
