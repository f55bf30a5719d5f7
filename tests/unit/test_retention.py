"""Retention rules as restic flags, when forgetting must refuse, and reading restic's forget output."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from drkit.core.policy import Retention
from drkit.evidence.records import Record
from drkit.jobs.forget import ForgetResult, forget_args, refusal, restic_duration

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)
RPO = timedelta(hours=24)


def test_every_keep_rule_becomes_its_flag_and_the_policy_is_one_group() -> None:
    retention = Retention(keep_last=3, keep_hourly=24, keep_daily=7, keep_weekly=4, keep_monthly=12, keep_yearly=2,
                          keep_within="36h")
    assert forget_args(retention) == ["--keep-last", "3", "--keep-hourly", "24", "--keep-daily", "7",
                                      "--keep-weekly", "4", "--keep-monthly", "12", "--keep-yearly", "2",
                                      "--keep-within", "1d12h", "--group-by", ""]


def test_unset_rules_are_left_out() -> None:
    assert forget_args(Retention(keep_daily=7)) == ["--keep-daily", "7", "--group-by", ""]


@pytest.mark.parametrize("span, text", [
    (timedelta(hours=1), "1h"), (timedelta(days=1), "1d"), (timedelta(days=7, hours=3), "7d3h"),
    (timedelta(minutes=90), "2h"),    # restic has no minutes ('m' is months): round up, keep more
    (timedelta(seconds=30), "1h"),
    (timedelta(hours=2, seconds=1), "3h"),   # any part of an hour rounds up
])
def test_keep_within_uses_restics_duration_units(span: timedelta, text: str) -> None:
    assert restic_duration(span) == text


def record(result: str, finished: datetime = NOW - timedelta(hours=1)) -> Record:
    return Record(kind="backup", policy="p", started_at=finished - timedelta(minutes=5), finished_at=finished,
                  result=result)


@pytest.mark.parametrize("result", ["error", "interrupted", "fail"])
def test_refuses_when_the_newest_backup_did_not_succeed(result: str) -> None:
    reason = refusal(record(result), NOW - timedelta(hours=2), RPO, NOW)
    assert reason is not None and f"ended '{result}'" in reason


def test_refuses_when_no_snapshot_is_younger_than_the_rpo() -> None:
    reason = refusal(record("pass", NOW - timedelta(hours=30)), NOW - timedelta(hours=30), RPO, NOW)
    assert reason is not None and "no snapshot is younger than the RPO 1d" in reason
    assert "newest is 1d 6h old" in reason


def test_refuses_an_empty_repository() -> None:
    assert refusal(None, None, RPO, NOW) == "the repository holds no snapshot of this policy; run a backup first"


def test_a_copy_is_refused_by_its_own_newest_snapshot_and_told_to_copy() -> None:
    """A copy that lags beyond the RPO is not thinned out (docs/repositories.md, "Retention")."""
    reason = refusal(record("pass"), NOW - timedelta(hours=30), RPO, NOW, copy="shop")
    assert reason == ("no snapshot is younger than the RPO 1d (newest is 1d 6h old); "
                      "bring the copy up to date first (drkit copy shop)")
    assert refusal(record("pass"), None, RPO, NOW, copy="shop") == (
        "the repository holds no snapshot of this policy; bring the copy up to date first (drkit copy shop)")
    assert refusal(record("pass"), NOW - timedelta(hours=1), RPO, NOW, copy="shop") is None
    assert "ended 'fail'" in refusal(record("fail"), NOW, RPO, NOW, copy="shop")


def test_the_refusal_names_when_the_failed_backup_ended() -> None:
    assert refusal(record("error"), NOW, RPO, NOW) == (
        "the newest backup (2026-03-04 11:00:00 UTC) ended 'error'; fix the backup before thinning out older snapshots")


def test_a_snapshot_exactly_as_old_as_the_rpo_still_meets_it() -> None:
    assert refusal(record("pass"), NOW - RPO, RPO, NOW) is None
    assert refusal(record("pass"), NOW - RPO - timedelta(seconds=1), RPO, NOW) is not None


@pytest.mark.parametrize("last", [record("pass"), record("partial"), None])
def test_runs_after_a_good_backup_or_with_fresh_snapshots_made_outside_drkit(last: Record | None) -> None:
    assert refusal(last, NOW - timedelta(hours=23), RPO, NOW) is None


# `restic forget --json` (0.14), one group, trimmed to the fields drkit reads.
FORGET_JSON = json.dumps([{
    "tags": None, "host": "", "paths": None,
    "keep": [{"time": "2026-11-23T11:46:11.891617945Z", "id": "8351" + "0" * 60, "short_id": "83510000"},
             {"time": "2026-11-23T11:40:00.000000000Z", "id": "1111" + "0" * 60, "short_id": "11110000"}],
    "remove": [{"time": "2026-11-23T11:46:03.893852793Z", "id": "6cfa" + "0" * 60, "short_id": "6cfa0000"}],
    "reasons": [{"snapshot": {"id": "8351" + "0" * 60}, "matches": ["last snapshot"]}],
}])


def test_kept_and_removed_ids_come_from_every_group() -> None:
    groups = json.loads(FORGET_JSON) + [{"keep": [{"id": "ffff" + "0" * 60}], "remove": None}]
    result = ForgetResult.from_groups(groups)
    assert result.kept == sorted(["8351" + "0" * 60, "1111" + "0" * 60, "ffff" + "0" * 60])
    assert result.removed == ["6cfa" + "0" * 60]
    assert ForgetResult.from_groups([]) == ForgetResult([], [])
