"""The one status model of a run (docs/architecture.md, "Run lifecycle"): every backup, drill,
check and forget ends in exactly one `RunStatus`, and the exit code, the evidence `result`, the
notification event and the drill verdict all come from the tables below — nowhere else.

A wrapper that exits 0 after a failed job, or stamps "last run" on a failure, is the most common
bug of restic wrappers; one table per translation is how drkit avoids it.
"""

from __future__ import annotations

from enum import StrEnum

from drkit.core.errors import DrkitError, ExitCode


class RunStatus(StrEnum):
    OK = "ok"
    PARTIAL = "partial"          # a snapshot was made, but some files could not be read (restic exit 3)
    FAILED = "failed"            # could not complete, or verification failed: the error says which
    BREACH = "breach"            # verified, but an objective was missed (RTA > RTO, forget refused)
    INTERRUPTED = "interrupted"  # SIGTERM / Ctrl-C
    LOCKED = "locked"            # another run of the policy holds its lock
    MISSED = "missed"            # a scheduled run that never started


# Exit code per status. FAILED has none of its own: the error's class decides (exit 1 could not
# complete, 2 refused as a usage error, 4 verification failed).
EXIT: dict[RunStatus, ExitCode | None] = {
    RunStatus.OK: ExitCode.OK,
    RunStatus.PARTIAL: ExitCode.ERROR,
    RunStatus.FAILED: None,
    RunStatus.BREACH: ExitCode.BREACH,
    RunStatus.INTERRUPTED: ExitCode.ERROR,
    RunStatus.LOCKED: ExitCode.LOCKED,
    RunStatus.MISSED: ExitCode.ERROR,
}

# Evidence `result` per status; FAILED splits into "fail" (data proven wrong) and "error".
RESULT: dict[RunStatus, str | None] = {
    RunStatus.OK: "pass",
    RunStatus.PARTIAL: "partial",
    RunStatus.FAILED: None,
    RunStatus.BREACH: "breach",
    RunStatus.INTERRUPTED: "interrupted",
    RunStatus.LOCKED: None,  # a locked run did not start: no evidence
    RunStatus.MISSED: "missed",
}

# The drill speaks in verdicts; each evidence result maps onto one.
VERDICT: dict[str, str] = {"pass": "PASS", "breach": "BREACH", "fail": "FAIL", "error": "ERROR",
                           "interrupted": "ERROR", "partial": "ERROR", "missed": "ERROR"}

# Notification event per status: everything that is not a clean success or a measured breach is a
# failure (silence is the failure mode to avoid).
EVENT: dict[RunStatus, str] = {RunStatus.OK: "success", RunStatus.BREACH: "breach"}

# Evidence results that prove a snapshot exists and holds data (a partial one lacks some files).
SNAPSHOT_RESULTS = ("pass", "partial")


def exit_code(status: RunStatus, error: BaseException | None) -> int:
    code = EXIT[status]
    if code is not None:
        return int(code)
    return int(error.exit_code) if isinstance(error, DrkitError) else int(ExitCode.ERROR)


def evidence_result(status: RunStatus, error: BaseException | None) -> str | None:
    result = RESULT[status]
    if status is RunStatus.FAILED:
        return "fail" if exit_code(status, error) == ExitCode.VERIFY_FAILED else "error"
    return result


def event(status: RunStatus | str) -> str:
    return EVENT.get(status, "failure")  # type: ignore[call-overload] - a RunStatus hashes as its string


def status_of_error(exc: BaseException) -> RunStatus:
    """The status of a run that ended in an exception instead of an outcome."""
    from drkit.core import errors

    if isinstance(exc, errors.LockedError):
        return RunStatus.LOCKED
    if isinstance(exc, errors.Interrupted):
        return RunStatus.INTERRUPTED
    if isinstance(exc, errors.BreachError):
        return RunStatus.BREACH
    if isinstance(exc, errors.PartialBackup):
        return RunStatus.PARTIAL
    return RunStatus.FAILED


def status_of_result(result: str) -> RunStatus:
    """The status an evidence result stands for (reports and status read records, not outcomes)."""
    return {"pass": RunStatus.OK, "partial": RunStatus.PARTIAL, "breach": RunStatus.BREACH,
            "interrupted": RunStatus.INTERRUPTED, "missed": RunStatus.MISSED}.get(result, RunStatus.FAILED)
