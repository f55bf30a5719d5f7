"""Every job's outcome maps onto the one status model (design 6b) with the right exit code."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from drkit.core import errors
from drkit.daemon.jobs import DrillResult, from_raw, status_of_error
from drkit.evidence.records import Record
from drkit.jobs.backup import BackupOutcome
from drkit.jobs.drill.run import DrillOutcome
from drkit.jobs.forget import ForgetOutcome, ForgetResult
from drkit.jobs.repo_check import CheckOutcome, Subset

T0 = datetime(2026, 3, 4, 1, 30, tzinfo=timezone.utc)


def record(kind: str, result: str, snapshot: str | None = None) -> Record:
    return Record(kind=kind, policy="p", started_at=T0, finished_at=T0 + timedelta(seconds=42), result=result,
                  snapshot_id=snapshot, files=3)


def test_a_good_backup_is_ok_with_its_snapshot_and_its_own_duration() -> None:
    outcome = from_raw("p", "backup", BackupOutcome("p", "ok", record=record("backup", "pass", "ab" * 32)), T0)
    assert (outcome.status, outcome.exit_code, outcome.error) == ("ok", 0, None)
    assert outcome.snapshot == "abababab" and outcome.duration_s == 42
    assert outcome.message == "backup ok: snapshot abababab, 3 files, 0 bytes"


@pytest.mark.parametrize("raw, status, exit_code", [
    (BackupOutcome("p", "partial", error=errors.PartialBackup("2 files unreadable")), "partial", 1),
    (BackupOutcome("p", "failed", error=errors.Unreachable("S3 down")), "failed", 1),
    (BackupOutcome("p", "interrupted", error=errors.Interrupted("stopped")), "interrupted", 1),
    (BackupOutcome("p", "locked", error=errors.LockedError("already running")), "locked", 5),
    (CheckOutcome("p", "failed", Subset("3/12", 3, 12), error=errors.RepositoryDamaged("pack damaged")), "failed", 4),
    (ForgetOutcome("p", "breach", error=errors.BreachError("forget refused")), "breach", 3),
])
def test_failures_keep_their_status_exit_code_and_message(raw, status: str, exit_code: int) -> None:
    outcome = from_raw("p", "backup", raw, T0)
    assert (outcome.status, outcome.exit_code) == (status, exit_code)
    assert outcome.error == str(raw.error) and outcome.message == str(raw.error)


@pytest.mark.parametrize("verdict, error, status, exit_code", [
    ("PASS", None, "ok", 0),
    ("BREACH", None, "breach", 3),
    ("FAIL", None, "failed", 4),
    ("ERROR", errors.Unreachable("S3 down"), "failed", 1),
    ("ERROR", errors.Interrupted("stopped by signal SIGTERM"), "interrupted", 1),
])
def test_drill_verdicts_become_statuses(verdict: str, error, status: str, exit_code: int) -> None:
    drill = DrillOutcome("p", verdict, record("drill", verdict.lower() if verdict != "ERROR" else "error"), error,
                         problems=["app check 'false' exited 1"] if verdict == "FAIL" else [])
    outcome = from_raw("p", "drill", DrillResult(drill), T0)
    assert (outcome.status, outcome.exit_code) == (status, exit_code)
    if verdict == "FAIL":
        assert outcome.error == "app check 'false' exited 1"
    if verdict == "PASS":
        assert outcome.error is None


def test_forget_and_check_summaries() -> None:
    forget = ForgetOutcome("p", "ok", record=record("forget", "pass"), result=ForgetResult(["a", "b"], ["c"]))
    assert from_raw("p", "forget", forget, T0).message == "forget ok: kept 2, removed 1 snapshot(s)"
    check = CheckOutcome("p", "ok", Subset("5/12", 5, 12), record("check", "pass"))
    assert from_raw("p", "check", check, T0).message == "check ok: read data subset 5/12"


@pytest.mark.parametrize("exc, status", [
    (errors.LockedError("x"), "locked"), (errors.Interrupted("x"), "interrupted"),
    (errors.BreachError("x"), "breach"), (errors.UsageError("x"), "failed"), (errors.ResticError("x"), "failed"),
])
def test_raised_errors_map_to_statuses(exc: errors.DrkitError, status: str) -> None:
    assert status_of_error(exc) == status
