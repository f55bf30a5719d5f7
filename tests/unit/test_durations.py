from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drkit.core.durations import format_duration, parse_duration


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


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from("smhdw"))
def test_short_form_round_trips_to_seconds(count, unit):
    factor = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    assert parse_duration(f"{count}{unit}").total_seconds() == count * factor


def test_format_duration():
    assert format_duration(41) == "41s"
    assert format_duration(14400) == "4h"
    assert format_duration(93784) == "1d 2h"
    assert format_duration(float("inf")) == "∞"
    assert format_duration(None) == "∞"
