"""The one status model (drkit/core/outcome.py; docs/evidence.md, "Status and result")."""

from __future__ import annotations

import pytest

from drkit.core import errors
from drkit.core.outcome import RunStatus, event, evidence_result, exit_code, status_of_result


@pytest.mark.parametrize("error, code", [
    (errors.VerificationError("restored data differs"), 4),
    (errors.UsageError("no such snapshot"), 2),
    (errors.Unreachable("S3 down"), 1),
    (ValueError("a bug"), 1),      # not a drkit error: could not complete, never a PASS or a crash
    (None, 1),
])
def test_a_failed_run_exits_with_its_error_s_code_and_1_for_anything_else(error, code):
    assert exit_code(RunStatus.FAILED, error) == code
    assert evidence_result(RunStatus.FAILED, error) == ("fail" if code == 4 else "error")


@pytest.mark.parametrize("result, status", [
    ("pass", RunStatus.OK), ("partial", RunStatus.PARTIAL), ("breach", RunStatus.BREACH),
    ("interrupted", RunStatus.INTERRUPTED), ("missed", RunStatus.MISSED),
    ("fail", RunStatus.FAILED), ("error", RunStatus.FAILED), ("from a newer drkit", RunStatus.FAILED),
])
def test_an_evidence_result_reads_back_as_its_status(result, status):
    assert status_of_result(result) is status


def test_every_status_but_success_and_breach_notifies_as_a_failure():
    assert {s: event(s) for s in RunStatus} == {
        RunStatus.OK: "success", RunStatus.BREACH: "breach", RunStatus.PARTIAL: "failure",
        RunStatus.FAILED: "failure", RunStatus.INTERRUPTED: "failure", RunStatus.LOCKED: "failure",
        RunStatus.MISSED: "failure"}
    assert event("ok") == "success"  # statuses read back from a log line are strings
