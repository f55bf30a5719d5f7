"""Durations as people write them in policies: 90s, 15m, 4h, 1d, 1w, or ISO 8601 (PT4H, P1D)."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from pydantic import TypeAdapter, ValidationError

_SHORT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ISO = TypeAdapter(timedelta)


MAX_SECONDS = 36_500 * 86_400  # 100 years: any longer objective or timeout is a typo, and
                                # time + duration must stay inside datetime's range (year 9999)


def parse_duration(text: str | int | float) -> timedelta:
    """Parse a policy duration; raise ValueError with a message that names the accepted forms."""
    if isinstance(text, bool):
        raise ValueError("expected a duration such as 90s, 15m, 4h, 1d, 1w or PT4H")
    seconds = _seconds(text)
    if math.isnan(seconds):
        raise ValueError(f"{_shown(text)} is not a duration; use 90s, 15m, 4h, 1d, 1w or ISO 8601 like PT4H")
    if seconds <= 0:
        raise ValueError(f"{_shown(text)}: a duration must be positive")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{_shown(text)}: a duration must be at most 100 years (36500d)")
    return timedelta(seconds=seconds)


def _seconds(text: str | int | float) -> float:
    """Seconds as a float; inf for a number too big for a float (compared with the bound above)."""
    if isinstance(text, (int, float)):
        try:
            return float(text)
        except OverflowError:
            return math.inf
    match = _SHORT.match(str(text))
    if match:
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if str(text).strip().upper().startswith("P"):
        try:
            return _ISO.validate_python(str(text).strip()).total_seconds()
        except (ValidationError, OverflowError):
            raise ValueError(f"{_shown(text)} is not a valid ISO 8601 duration (e.g. PT4H, P1D)") from None
    raise ValueError(f"{_shown(text)} is not a duration; use 90s, 15m, 4h, 1d, 1w or ISO 8601 like PT4H")


def _shown(text: object, limit: int = 40) -> str:
    """The input as the message shows it: repr, cut short (a 400-digit number stays one line)."""
    try:
        shown = repr(text)
    except ValueError:  # an int beyond Python's 4,300-digit str() limit
        shown = "a number of over 4,300 digits"
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


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
