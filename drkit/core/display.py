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


def format_when(moment: datetime | None, never: str = "-") -> str:
    """`2026-11-23 12:55:42` in UTC, to the second."""
    return never if moment is None else utc_text(moment)[:19].replace("T", " ")
