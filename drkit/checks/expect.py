"""What a query check (sqlite, postgres_query, mysql_query) expects of the first value its query
returns."""

from __future__ import annotations

from typing import Any


def value_problem(value: Any, expect: Any, expect_min: float | None, expect_max: float | None = None) -> str | None:
    """Compare a query's first value with the check's expectations (numbers numerically)."""
    if expect is not None:
        if isinstance(expect, (int, float)) and not isinstance(expect, bool):
            ok = _number(value) == float(expect)
        else:
            ok = str(value) == str(expect)
        if not ok:
            return f"returned {value!r}, expected {expect!r}"
    for bound, word, within in ((expect_min, "at least", lambda v, b: v >= b),
                                (expect_max, "at most", lambda v, b: v <= b)):
        if bound is None:
            continue
        number = _number(value)
        if number is None or not within(number, bound):
            return f"returned {value!r}, expected {word} {bound:g}"
    return None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
