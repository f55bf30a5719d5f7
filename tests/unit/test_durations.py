from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drkit.core.durations import MAX_SECONDS, format_duration, parse_duration


@pytest.mark.parametrize("text,seconds", [
    ("90s", 90), ("15m", 900), ("4h", 14400), ("1d", 86400), ("1w", 604800), ("1.5h", 5400),
    ("PT4H", 14400), ("P1D", 86400), ("PT90S", 90), ("P1DT2H", 93600), (3600, 3600),
])
def test_accepted_forms(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["24hours", "4 hrs", "", "h", "-1h", "0s", "PXYZ", True])
def test_rejected_forms_name_the_input_and_the_accepted_forms(text):
    with pytest.raises(ValueError) as exc:
        parse_duration(text)
    assert "duration" in str(exc.value) or "positive" in str(exc.value)


FACTORS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@given(st.sampled_from("smhdw").flatmap(
    lambda unit: st.tuples(st.integers(min_value=1, max_value=min(10**6, MAX_SECONDS // FACTORS[unit])), st.just(unit))))
def test_short_form_round_trips_to_seconds(count_unit):
    count, unit = count_unit
    assert parse_duration(f"{count}{unit}").total_seconds() == count * FACTORS[unit]


@pytest.mark.parametrize("text", ["36501d", "5215w", "9999999999999999999999d", "P99999999D", 10**400,
                                  float("inf"), float("nan"), "P99999999999D"])
def test_huge_or_infinite_durations_are_value_errors(text):
    """Before: OverflowError (timedelta) or a bare float error became `internal error`, exit 1."""
    with pytest.raises(ValueError) as exc:
        parse_duration(text)
    assert "duration" in str(exc.value)
    assert len(str(exc.value)) < 120


def test_the_largest_duration_is_100_years():
    assert parse_duration("36500d") == timedelta(days=36500)


def test_format_duration():
    assert format_duration(41) == "41s"
    assert format_duration(14400) == "4h"
    assert format_duration(93784) == "1d 2h"
    assert format_duration(float("inf")) == "∞"
    assert format_duration(None) == "∞"
