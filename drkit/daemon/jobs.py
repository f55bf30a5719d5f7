"""One run of one job (backup, forget, check, drill) of one policy, as the daemon runs it.

Every run ends in exactly one status of the design's model (6b): ok, partial, failed, breach,
interrupted, locked (missed is the daemon's: a run that never started). The same value goes to
the log line, the notification and the exit code, and the job modules record the evidence, so
a failure can never be logged as a success or stamped as a good "last run".
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from drkit.core import errors
from drkit.core.policy import Policy
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record, now_utc
from drkit.notify import describe, notify_outcome, notify_start

log = logging.getLogger("drkit")

# Catch-up order within a policy: fresh data first, then retention (which refuses after a failed
# backup), then the integrity check of what retention left, then the drill of the newest snapshot.
JOB_KINDS = ("backup", "forget", "check", "drill")
STATUSES = ("ok", "partial", "failed", "breach", "interrupted", "locked", "missed")


@dataclass(frozen=True)
class JobOutcome:
    policy: str
    job: str
    status: str
    exit_code: int
    error: str | None       # one line; None when the run was ok
    record: Record | None   # the evidence this run recorded
    started_at: datetime
    finished_at: datetime
    summary: str = ""

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def snapshot(self) -> str | None:
        return self.record.snapshot_id[:8] if self.record and self.record.snapshot_id else None

    @property
    def message(self) -> str:
        return self.error or self.summary or self.status


def status_of_error(exc: errors.DrkitError) -> str:
    """The status of a run that ended in an exception instead of an outcome."""
    if isinstance(exc, errors.LockedError):
        return "locked"
    if isinstance(exc, errors.Interrupted):
        return "interrupted"
    if isinstance(exc, errors.BreachError):
        return "breach"
    return "failed"


def run_job(state_dir: Path, policy: Policy, job: str, policy_file: Path | None = None) -> JobOutcome:
    """Run one job with notifications; never raises (a worker thread must survive any run).

    The workspace is opened per run: SQLite connections belong to the thread that made them.
    """
    started = now_utc()
    ws = Workspace(state_dir)
    try:
        outcome = from_raw(policy.name, job, run_notified(policy, job, lambda: _RUNNERS[job](ws, policy, policy_file)), started)
    except errors.DrkitError as exc:
        outcome = JobOutcome(policy.name, job, status_of_error(exc), int(exc.exit_code), str(exc), None, started,
                             now_utc())
    except Exception as exc:  # noqa: BLE001 - a bug in one job must not stop the daemon
        log.error("%s %s: internal error: %s: %s", policy.name, job, type(exc).__name__, exc,
                  exc_info=log.isEnabledFor(logging.DEBUG))
        outcome = JobOutcome(policy.name, job, "failed", 1, f"internal error: {type(exc).__name__}: {exc}", None,
                             started, now_utc())
    finally:
        if "catalog" in ws.__dict__:
            ws.catalog.close()
    return outcome


def record_missed(state_dir: Path, policy: Policy, job: str, reason: str) -> None:
    """A scheduled run that never started: signed evidence (kept locally until the policy's next
    upload) and a notification sent in the background; never raises."""
    now = now_utc()
    ws = Workspace(state_dir)
    try:
        ws.record(policy, Record(kind=job, policy=policy.name, started_at=now, finished_at=now, result="missed",
                                 errors=[reason]), upload=False)
    except Exception as exc:  # noqa: BLE001 - the daemon must go on
        log.warning("%s %s: could not record the missed run: %s", policy.name, job, exc)
    finally:
        if "catalog" in ws.__dict__:
            ws.catalog.close()
    outcome = _Raised("missed", errors.DrkitError(f"{job} of {policy.name} missed: {reason}"), 1)
    threading.Thread(target=notify_outcome, args=(policy, job, outcome), daemon=True).start()


@dataclass(frozen=True)
class _Raised:
    """A run that raised instead of returning an outcome, as notifications see it."""

    status: str
    error: Exception
    exit_code: int
    record: None = None


def run_notified(policy: Policy, job: str, run: Callable[[], Any]) -> Any:
    """Notify start, run, notify the outcome; shared by the daemon and the CLI commands (cron mode),
    so a run notifies the same way however it was started. Exceptions are notified, then re-raised."""
    notify_start(policy, job)
    try:
        outcome = run()
    except errors.DrkitError as exc:
        notify_outcome(policy, job, _Raised(status_of_error(exc), exc, int(exc.exit_code)))
        raise
    except Exception as exc:
        notify_outcome(policy, job, _Raised("failed", exc, 1))
        raise
    notify_outcome(policy, job, outcome)
    return outcome


def from_raw(policy: str, job: str, raw: Any, started: datetime) -> JobOutcome:
    """Normalize a job module's outcome (drill says `error` where the model says `failed`)."""
    status = "failed" if raw.status == "error" else raw.status
    error = str(raw.error) if getattr(raw, "error", None) is not None and status != "ok" else None
    if status not in STATUSES:
        status, error = "failed", f"unknown status {raw.status!r}: {error or ''}".strip()
    record: Record | None = raw.record
    # the run's own times when it recorded them (notification round-trips are not the job's time)
    started, finished = (record.started_at, record.finished_at) if record is not None else (started, now_utc())
    return JobOutcome(policy, job, status, int(raw.exit_code), error, record, started, finished,
                      summary=describe(job, raw))


def _backup(ws: Workspace, policy: Policy, policy_file: Path | None) -> Any:  # noqa: ARG001
    from drkit.jobs.backup import run_backup

    return run_backup(ws, policy)


def _forget(ws: Workspace, policy: Policy, policy_file: Path | None) -> Any:  # noqa: ARG001
    from drkit.jobs.forget import run_forget

    return run_forget(ws, policy)


def _check(ws: Workspace, policy: Policy, policy_file: Path | None) -> Any:  # noqa: ARG001
    from drkit.jobs.repo_check import run_check

    return run_check(ws, policy)


def _drill(ws: Workspace, policy: Policy, policy_file: Path | None) -> Any:
    try:
        from drkit.jobs.drill.run import DrillRequest, run_drill
    except ImportError as exc:
        raise errors.DrkitError(f"{policy.name}: restore drills are unavailable: {exc}") from None
    return DrillResult(run_drill(ws, DrillRequest(policy, policy_file)))  # checks run beside the policy file


_VERDICTS = {"PASS": "ok", "BREACH": "breach", "FAIL": "failed", "ERROR": "failed"}


@dataclass(frozen=True)
class DrillResult:
    """A drill outcome in the status model: the drill speaks in verdicts (PASS, BREACH, FAIL, ERROR)."""

    drill: Any

    @property
    def status(self) -> str:
        if getattr(self.drill, "status", None):
            return self.drill.status
        if isinstance(self.drill.error, errors.Interrupted):
            return "interrupted"
        return _VERDICTS.get(self.drill.verdict, "failed")

    @property
    def error(self) -> Any:
        if self.drill.error is not None:
            return self.drill.error
        problems = getattr(self.drill, "problems", None)
        return "; ".join(problems[:3]) if problems and self.status != "ok" else None

    @property
    def record(self) -> Record | None:
        return self.drill.record

    @property
    def exit_code(self) -> int:
        return int(self.drill.exit_code)


_RUNNERS: dict[str, Callable[[Workspace, Policy, Path | None], Any]] = {
    "backup": _backup, "forget": _forget, "check": _check, "drill": _drill,
}
