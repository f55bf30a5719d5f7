"""`repo check` subsets: what the user may pass, and the rotation that reads every pack in m runs."""

from __future__ import annotations

import pytest

from drkit.jobs.repo_check import Subset, next_subset, parse_subset


@pytest.mark.parametrize("text, subset", [
    ("3/12", Subset("3/12", 3, 12)), ("1/1", Subset("1/1", 1, 1)), ("5%", Subset("5%")),
    ("2.5%", Subset("2.5%")), ("100%", Subset("100%")), ("all", Subset("100%")), ("none", Subset(None)),
    (" ALL ", Subset("100%")),
])
def test_accepted_subsets(text: str, subset: Subset) -> None:
    assert parse_subset(text) == subset


@pytest.mark.parametrize("text", ["0/12", "13/12", "3/0", "0%", "101%", "half", "", "1/2/3", "10G"])
def test_rejected_subsets_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"use n/m .*percentage.*all or none"):
        parse_subset(text)


def test_the_rotation_visits_every_group_once_in_twelve_checks_then_starts_over() -> None:
    measured = None
    seen = []
    for _ in range(25):
        subset = next_subset(measured)
        seen.append(subset.arg)
        measured = subset.as_measured()
    assert seen[:12] == [f"{n}/12" for n in range(1, 13)]
    assert seen[12:24] == seen[:12] and seen[24] == "1/12"


def test_the_rotation_restarts_after_a_check_with_another_divisor_or_none() -> None:
    assert next_subset(None).arg == "1/12"
    assert next_subset(Subset("5/7", 5, 7).as_measured()).arg == "1/12"
    assert next_subset(Subset("5%").as_measured()).arg == "1/12"
    assert next_subset(Subset("5/12", 5, 12).as_measured()).arg == "6/12"


def test_measured_fields_recorded_in_the_evidence() -> None:
    assert Subset("3/12", 3, 12).as_measured().to_measured() == {"read_data_subset": "3/12", "subset_n": 3, "subset_m": 12}
    assert Subset(None).as_measured().to_measured() == {"read_data_subset": "none", "subset_n": None, "subset_m": None}
