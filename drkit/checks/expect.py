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


def row_problem(row: tuple[Any, ...] | None, expect: Any, expect_min: float | None,
                expect_max: float | None) -> str | None:
    """A query's first row against the expectations: no row at all fails only when something was
    expected of it."""
    if row is None:
        return "query returned no rows" if (expect, expect_min, expect_max) != (None, None, None) else None
    problem = value_problem(row[0], expect, expect_min, expect_max)
    return f"query {problem}" if problem else None


def row_detail(row: tuple[Any, ...] | None) -> str:
    """The detail line of a query that passed: its value (a row count, a checksum)."""
    return "query returned no rows" if row is None else f"query = {row[0]!r}"


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
