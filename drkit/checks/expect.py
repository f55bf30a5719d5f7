"""What a query check (sqlite, postgres_query) expects of the first value its query returns."""

from __future__ import annotations

from typing import Any


def value_problem(value: Any, expect: Any, expect_min: float | None) -> str | None:
    """Compare a query's first value with the check's expectations (numbers numerically)."""
    if expect is not None:
        if isinstance(expect, (int, float)) and not isinstance(expect, bool):
            try:
                ok = float(value) == float(expect)
            except (TypeError, ValueError):
                ok = False
        else:
            ok = str(value) == str(expect)
        if not ok:
            return f"returned {value!r}, expected {expect!r}"
    if expect_min is not None:
        try:
            ok = float(value) >= expect_min
        except (TypeError, ValueError):
            ok = False
        if not ok:
            return f"returned {value!r}, expected at least {expect_min:g}"
    return None
