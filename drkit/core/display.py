"""How quantities read on terminals and in reports: sizes in decimal units, times in UTC."""

from __future__ import annotations

from datetime import datetime

from drkit.evidence.records import utc_text


def format_size(n: float | None) -> str:
    """3.4 MB, 1.1 GB (decimal units, as restic and S3 consoles show them); n/a for unknown."""
    if n is None:
        return "n/a"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def format_when(moment: datetime | None, never: str = "-", *, minutes: bool = False) -> str:
    """`2026-11-23 12:55:42` in UTC, to the second (`2026-11-23 12:55` with `minutes`)."""
    return never if moment is None else utc_text(moment)[:16 if minutes else 19].replace("T", " ")


def format_time_of_day(moment: datetime) -> str:
    """`12:55:42` in UTC."""
    return utc_text(moment)[11:19]


def count_of(n: int, noun: str, plural: str | None = None) -> str:
    """`1 policy`, `2 policies`, `0 records`: a count with its noun in the right number (a regular
    plural adds `s`, `-y` after a consonant becomes `-ies`; irregular ones pass `plural`)."""
    if n == 1:
        return f"{n} {noun}"
    if plural is None:
        plural = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
    return f"{n:,} {plural}"
