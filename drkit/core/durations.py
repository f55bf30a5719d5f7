"""Durations as people write them in policies: 90s, 15m, 4h, 1d, 1w, or ISO 8601 (PT4H, P1D)."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import TypeAdapter, ValidationError

_SHORT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ISO = TypeAdapter(timedelta)


def parse_duration(text: str | int | float) -> timedelta:
    """Parse a policy duration; raise ValueError with a message that names the accepted forms."""
    if isinstance(text, bool):
        raise ValueError("expected a duration such as 90s, 15m, 4h, 1d, 1w or PT4H")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = _SHORT.match(str(text))
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        elif str(text).strip().upper().startswith("P"):
            try:
                seconds = _ISO.validate_python(str(text).strip()).total_seconds()
            except ValidationError:
                raise ValueError(f"{text!r} is not a valid ISO 8601 duration (e.g. PT4H, P1D)") from None
        else:
            raise ValueError(f"{text!r} is not a duration; use 90s, 15m, 4h, 1d, 1w or ISO 8601 like PT4H")
    if seconds <= 0:
        raise ValueError(f"{text!r}: a duration must be positive")
    return timedelta(seconds=seconds)


def format_duration(seconds: float | None) -> str:
    """Compact human form: 41s, 12m, 4h, 1d 2h; `∞` for None/infinite."""
    if seconds is None or seconds == float("inf"):
        return "∞"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 or seconds == int(seconds) else f"{seconds:.1f}s"
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{int(count)}{unit}")
        if len(parts) == 2:
            break
    return " ".join(parts)
