"""One run lifecycle (drkit/jobs/lifecycle.py): every way a job body ends maps onto one status,
one exit code and one evidence result, the same for every job kind."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from drkit.core import errors
from drkit.core.outcome import RunStatus, status_of_error
from drkit.core.policy import Policy
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record
from drkit.jobs.forget import ForgetDetail, ForgetResult
from drkit.jobs.forget import describe as describe_forget
from drkit.jobs.lifecycle import RunOutcome, run_locked
from drkit.jobs.repo_check import CheckDetail, Subset
from drkit.jobs.repo_check import describe as describe_check

T0 = datetime(2026, 3, 4, 1, 30, tzinfo=timezone.utc)
POLICY = Policy.model_validate({
    "version": 1, "name": "p", "objectives": {"rpo": "1d", "rto": "4h"},
    "targets": [{"path": "/srv/data"}], "repository": {"url": "/srv/repo", "password_env": "PW"},
})


def record(kind: str, result: str, snapshot: str | None = None) -> Record:
    return Record(kind=kind, policy="p", started_at=T0, finished_at=T0 + timedelta(seconds=42), result=result,
                  snapshot_id=snapshot, files=3)


def raising(exc: BaseException):
    def body(ctx) -> None:
        ctx.phases["work"] = 0.5
        raise exc
    return body


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path / "state")
    yield workspace
    workspace.close()


def test_a_good_run_is_ok_with_signed_evidence(ws: Workspace) -> None:
    def body(ctx) -> None:
        ctx.snapshot_id, ctx.files = "ab" * 32, 3

    outcome = run_locked(ws, POLICY, "backup", body)
    assert (outcome.status, outcome.exit_code, outcome.error) == ("ok", 0, None)
    assert outcome.record is not None and outcome.record.result == "pass" and outcome.record.signature
    assert outcome.snapshot == "abababab"
    assert outcome.message == "backup ok: snapshot abababab, 3 files, 0 bytes"
    assert ws.catalog.last_record("p", "backup").digest() == outcome.record.digest()


@pytest.mark.parametrize("exc, status, exit_code, result", [
    (errors.PartialBackup("2 files unreadable"), "partial", 1, "partial"),
    (errors.Unreachable("S3 down"), "failed", 1, "error"),
    (errors.Interrupted("stopped by signal SIGTERM"), "interrupted", 1, "interrupted"),
    (errors.RepositoryDamaged("pack damaged"), "failed", 4, "fail"),
    (errors.VerificationError("restored file differs"), "failed", 4, "fail"),
    (errors.BreachError("forget refused"), "breach", 3, "breach"),
    (RuntimeError("a bug"), "failed", 1, "error"),
])
def test_failures_keep_their_status_exit_code_message_and_evidence(ws: Workspace, exc, status: str, exit_code: int,
                                                                   result: str) -> None:
    outcome = run_locked(ws, POLICY, "check", raising(exc))
    assert (outcome.status, outcome.exit_code) == (status, exit_code)
    assert outcome.record is not None and outcome.record.result == result
    assert outcome.record.phases == {"work": 0.5}
    assert str(exc) in outcome.message and outcome.record.errors[0] == outcome.message


def test_a_usage_error_records_nothing(ws: Workspace) -> None:
    outcome = run_locked(ws, POLICY, "drill", raising(errors.UsageError("no snapshot 'deadbeef'")))
    assert (outcome.status, outcome.exit_code, outcome.record) == ("failed", 2, None)
    assert ws.catalog.last_record("p", "drill") is None


def test_a_locked_policy_is_exit_5_without_evidence(ws: Workspace) -> None:
    holder = ws.lock("p", "backup").acquire()
    try:
        outcome = run_locked(ws, POLICY, "drill", lambda ctx: None)
    finally:
        holder.release()
    assert (outcome.status, outcome.exit_code, outcome.record) == ("locked", 5, None)
    assert "already running" in outcome.message


def test_ctrl_c_is_recorded_as_interrupted_and_re_raised(ws: Workspace) -> None:
    with pytest.raises(KeyboardInterrupt):
        run_locked(ws, POLICY, "backup", raising(KeyboardInterrupt()))
    assert ws.catalog.last_record("p", "backup").result == "interrupted"
    assert run_locked(ws, POLICY, "backup", lambda ctx: None).status == "ok"  # the lock was released


def test_evidence_that_cannot_be_stored_fails_a_good_run(ws: Workspace, monkeypatch) -> None:
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ws, "record", disk_full)
    outcome = run_locked(ws, POLICY, "drill", lambda ctx: None)
    assert (outcome.status, outcome.exit_code, outcome.record) == ("failed", 1, None)
    assert "evidence could not be recorded" in outcome.message and "No space left" in outcome.message


def test_the_background_task_runs_while_evidence_is_stored(ws: Workspace) -> None:
    ran: list[str] = []

    def body(ctx) -> None:
        ctx.background = lambda: ran.append("cleanup")

    assert run_locked(ws, POLICY, "drill", body).status == "ok" and ran == ["cleanup"]


def test_forget_and_check_summaries() -> None:
    forget = RunOutcome("p", "forget", RunStatus.OK, None, record("forget", "pass"), T0, T0,
                        ForgetDetail(False, ForgetResult(["a", "b"], ["c"]), True))
    assert describe_forget(forget) == forget.message == "forget ok: kept 2, removed 1 snapshot"
    check = RunOutcome("p", "check", RunStatus.OK, None, record("check", "pass"), T0, T0,
                       CheckDetail(Subset("5/12", 5, 12)))
    assert describe_check(check) == check.message == "check ok: read data subset 5/12"


def test_json_carries_the_schema_and_the_job_detail() -> None:
    check = RunOutcome("p", "check", RunStatus.FAILED, errors.RepositoryDamaged("pack damaged"),
                       record("check", "fail"), T0, T0, CheckDetail(Subset("3/12", 3, 12), ["pack 1f2e damaged"]))
    data = check.to_json()
    assert data["schema"] == "drkit.run/1" and data["status"] == "failed" and data["exit_code"] == 4
    assert data["detail"] == {"read_data_subset": "3/12", "problems": ["pack 1f2e damaged"]}
    assert data["record"]["result"] == "fail" and data["error"] == "pack damaged"


@pytest.mark.parametrize("exc, status", [
    (errors.LockedError("x"), "locked"), (errors.Interrupted("x"), "interrupted"),
    (errors.BreachError("x"), "breach"), (errors.UsageError("x"), "failed"), (errors.ResticError("x"), "failed"),
    (errors.PartialBackup("x"), "partial"),
])
def test_raised_errors_map_to_statuses(exc: errors.DrkitError, status: str) -> None:
    assert status_of_error(exc) == status


@pytest.mark.parametrize("previous, clears", [
    (None, False),
    (errors.Unreachable("S3 gone while restic held its lock"), True),
    (errors.Interrupted("backup: restic was stopped by signal 9"), True),
    (errors.VerificationError("restored file differs"), False),
])
def test_the_run_after_one_that_failed_or_was_interrupted_clears_stale_restic_locks(ws: Workspace, previous,
                                                                                     clears: bool) -> None:
    if previous is not None:
        run_locked(ws, POLICY, "backup", raising(previous))
    seen = []
    run_locked(ws, POLICY, "backup", lambda ctx: seen.append(ctx.clear_stale))
    assert seen == [clears]
    again = []
    run_locked(ws, POLICY, "backup", lambda ctx: again.append(ctx.clear_stale))
    assert again == [False]  # a good run in between: nothing to clear
