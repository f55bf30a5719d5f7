"""One run lifecycle for every job kind (docs/architecture.md, "Run lifecycle").

`run_locked(ws, policy, kind, body)` is the only place that takes a policy's lock, times a run,
maps errors and signals onto the status model (drkit/core/outcome.py), records and uploads the
signed evidence and notifies. A job module supplies only its *body*: a function of a `RunContext`
that fills in what it measured and either returns (the run went fine) or raises the typed error
that says how it ended (PartialBackup, BreachError, a VerificationError, Interrupted, ...).
Manual commands and the daemon go through the same function, so a run is logged, recorded,
notified and exit-coded the same way however it was started.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from drkit.core import errors
from drkit.core.display import count_of
from drkit.core.jsonshape import JsonDocument
from drkit.core.outcome import RunStatus, evidence_result, exit_code, status_of_error
from drkit.core.policy import Policy
from drkit.engines.restic import Restic
from drkit.engines.workspace import Workspace
from drkit.evidence.payloads import Measured
from drkit.evidence.records import Record, now_utc, utc_text
from drkit.notify import notify_outcome, notify_start

log = logging.getLogger("drkit")

MAX_ERRORS = 100  # error lines kept in one evidence record


@dataclass
class RunContext:
    """What a job body works with, and what it measured so far (kept when it fails half-way)."""

    ws: Workspace
    policy: Policy
    kind: str
    started_at: datetime
    repository: str | None = None      # the policy's repository the run works on (None: the first)
    clear_stale: bool = False          # the previous run died or failed: remove its stale restic locks
    restic_version: str = ""
    phases: dict[str, float] = field(default_factory=dict)
    measured: Measured | None = None
    snapshot_id: str | None = None
    snapshot_time: datetime | None = None
    bytes: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    detail: Any = None                 # the job's own result object (ForgetResult, DrillDetail, ...)
    finished_at: datetime | None = None  # a body that keeps its own clock (the drill's RTA) sets it
    background: Callable[[], None] | None = None  # runs while the evidence is stored (sandbox removal)
    notice: str | None = None          # a distinct notification event for a run that succeeded (backup_suspicious)

    def restic(self, *, source: str | None = None) -> Restic:
        """The run's repository (`source`: the repository a copy reads from)."""
        restic = self.ws.restic(self.policy, self.repository, source=source)
        self.restic_version = ".".join(map(str, restic.version()))
        return restic

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.monotonic() - start


Body = Callable[[RunContext], None]


@dataclass(frozen=True)
class RunOutcome(JsonDocument, schema="drkit.run/1"):
    """How one run ended: the same value drives the exit code, the log line and the notification."""

    policy: str
    job: str
    status: RunStatus
    error: errors.DrkitError | None
    record: Record | None
    started_at: datetime
    finished_at: datetime
    detail: Any = None
    warnings: tuple[str, ...] = ()
    notice: str | None = None          # notified instead of `success` (docs/guard.md: backup_suspicious)

    @property
    def exit_code(self) -> int:
        return exit_code(self.status, self.error)

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def snapshot(self) -> str | None:
        return self.record.snapshot_id[:8] if self.record and self.record.snapshot_id else None

    @property
    def summary(self) -> str:
        """One line on what the run did (the job kind's own words)."""
        kind = JOB_KINDS.get(self.job)
        return kind.describe(self) if kind is not None else f"{self.job} {self.status}"

    @property
    def message(self) -> str:
        return str(self.error) if self.error is not None and self.status is not RunStatus.OK else self.summary

    def json_fields(self) -> dict[str, Any]:
        to_json = getattr(self.detail, "to_json", None)
        return {
            "policy": self.policy, "job": self.job, "status": str(self.status),
            "result": evidence_result(self.status, self.error), "exit_code": self.exit_code,
            "error": str(self.error) if self.error is not None else None, "summary": self.summary,
            "warnings": list(self.warnings), "started_at": utc_text(self.started_at),
            "finished_at": utc_text(self.finished_at), "detail": to_json() if to_json is not None else {},
            "record": self.record.body(with_signature=True) if self.record is not None else None,
        }


@dataclass(frozen=True)
class RunList(JsonDocument, schema="drkit.runs/1"):
    """Several runs of one command (`backup NAME... | --all`)."""

    runs: tuple[RunOutcome, ...]

    def json_fields(self) -> dict[str, Any]:
        return {"runs": [run.to_json() for run in self.runs]}


@dataclass(frozen=True)
class JobKind:
    """A job kind: how the daemon runs it for a policy (None: only on request, like a restore, which
    needs a target), and how to say what it did."""

    name: str
    run: Callable[[Workspace, Policy, Path | None], RunOutcome] | None
    describe: Callable[[RunOutcome], str]


def describe_snapshot_run(outcome: RunOutcome) -> str:
    """`backup ok: snapshot 1a2b3c4d, 42 files, 1234 bytes`: a run about one snapshot (backup, restore)."""
    record = outcome.record
    if record is not None and record.snapshot_id:
        return (f"{outcome.job} {outcome.status}: snapshot {record.snapshot_id[:8]}, {count_of(record.files, 'file')}, "
                f"{record.bytes} bytes")
    return f"{outcome.job} {outcome.status}"


JOB_KINDS: dict[str, JobKind] = {}
# Catch-up order within a policy: fresh data first, then retention (which refuses after a failed
# backup), then the integrity check of what retention left, then the drill of the newest snapshot.
# A copy follows the backup it copies (docs/repositories.md).
CATCH_UP_ORDER = ("backup", "copy", "forget", "check", "drill")


def register_job(name: str, run: Callable[[Workspace, Policy, Path | None], RunOutcome] | None,
                 describe: Callable[[RunOutcome], str]) -> None:
    JOB_KINDS[name] = JobKind(name, run, describe)


def job_kinds() -> list[str]:
    """Every registered job kind, sorted: drkit's own (each module of `drkit.jobs` registers itself
    when imported, so all are imported here) and any a plug-in registered. Readers that need one
    column or counter per kind (the CSV report) take them from here, so a new kind appears there
    without a second list to keep in step."""
    import importlib
    import pkgutil

    import drkit.jobs

    for module in pkgutil.walk_packages(drkit.jobs.__path__, "drkit.jobs."):
        importlib.import_module(module.name)
    return sorted(JOB_KINDS)


def run_locked(ws: Workspace, policy: Policy, kind: str, body: Body, *, record: bool = True,
               notify: bool = True, started_at: datetime | None = None, repository: str | None = None) -> RunOutcome:
    """Notify, lock, run the body, record, notify; failures become the outcome, never exceptions.

    `record=False` for runs that change nothing (a dry run). Ctrl-C is recorded as interrupted and
    re-raised, so `backup --all` stops too. A usage error (a refused snapshot id) records nothing.
    `repository` names the policy's repository the run works on (`--repository`; None: the first);
    the evidence record names it.
    """
    if notify:
        notify_start(policy, kind)
    ctx = RunContext(ws, policy, kind, started_at or now_utc(), repository=repository)
    try:
        lock = ws.lock(policy.name, kind).acquire()
    except errors.LockedError as exc:
        return _finish(ctx, RunStatus.LOCKED, exc, record=False, notify=notify)
    try:
        ctx.clear_stale = lock.dead_holder is not None or _may_have_left_restic_locks(ws, policy)
        if lock.dead_holder:
            ctx.warnings.append(f"previous run ({lock.dead_holder}) ended without finishing; "
                                "its stale restic locks were removed")
        status, error = _run_body(ctx, body, record)
        return _finish(ctx, status, error, record=record and not isinstance(error, errors.UsageError), notify=notify)
    finally:
        lock.release()


def _may_have_left_restic_locks(ws: Workspace, policy: Policy) -> bool:
    """Whether the policy's previous run ended so that restic may not have removed its repository
    lock: restic removes it on the way out, but not when it was killed (the OOM killer) or the
    repository had become unreachable (docs/reliability.md). A stale lock blocks `restic check`
    and `prune`, so the next backup removes it (`restic unlock` keeps live locks)."""
    last = ws.catalog.last_record(policy.name)
    return last is not None and last.result in ("error", "interrupted")


def _run_body(ctx: RunContext, body: Body, record: bool) -> tuple[RunStatus, errors.DrkitError | None]:
    try:
        body(ctx)
    except KeyboardInterrupt:
        if record:
            _store(ctx, _record(ctx, RunStatus.INTERRUPTED, errors.Interrupted("interrupted by Ctrl-C")))
        raise
    except errors.DrkitError as exc:
        return status_of_error(exc), exc
    except Exception as exc:  # noqa: BLE001 - a bug in one job must end as a recorded failure
        log.debug("%s %s: internal error", ctx.policy.name, ctx.kind, exc_info=True)
        return RunStatus.FAILED, errors.DrkitError(f"internal error: {type(exc).__name__}: {exc}")
    return RunStatus.OK, None


def _finish(ctx: RunContext, status: RunStatus, error: errors.DrkitError | None, *, record: bool,
            notify: bool) -> RunOutcome:
    background = threading.Thread(target=ctx.background, name=f"{ctx.kind}-cleanup") if ctx.background else None
    if background is not None:
        background.start()
    signed = None
    try:
        if record:
            signed, status, error = _store_or_fail(ctx, status, error)
    finally:
        if background is not None:
            background.join()
    outcome = RunOutcome(ctx.policy.name, ctx.kind, status, error, signed, ctx.started_at,
                         signed.finished_at if signed is not None else ctx.finished_at or now_utc(),
                         ctx.detail, tuple(ctx.warnings), ctx.notice if status is RunStatus.OK else None)
    if notify:
        notify_outcome(ctx.policy, ctx.kind, outcome)
    return outcome


def _store_or_fail(ctx: RunContext, status: RunStatus,
                   error: errors.DrkitError | None) -> tuple[Record | None, RunStatus, errors.DrkitError | None]:
    """Evidence that cannot be stored turns a good run into a failed one: a run nobody can prove
    happened did not pass (and a drill could not authenticate that backup's manifest later)."""
    record = _record(ctx, status, error)
    try:
        return ctx.ws.record(ctx.policy, record), status, error
    except Exception as exc:  # noqa: BLE001 - report the run's own result with the reason
        failure = errors.DrkitError(f"{ctx.policy.name}: {ctx.kind} evidence could not be recorded: {exc}")
        log.warning("%s", failure)
        if status in (RunStatus.OK, RunStatus.BREACH, RunStatus.PARTIAL):
            return None, RunStatus.FAILED, failure
        return None, status, error


def _store(ctx: RunContext, record: Record) -> None:
    try:
        ctx.ws.record(ctx.policy, record)
    except Exception as exc:  # noqa: BLE001 - the interruption is what must be reported
        log.warning("could not record evidence for %s: %s", ctx.policy.name, exc)


def _record(ctx: RunContext, status: RunStatus, error: errors.DrkitError | None) -> Record:
    message = [str(error)] if error is not None else []
    lines = message + [p for p in ctx.problems if p not in message]
    return Record(kind=ctx.kind, policy=ctx.policy.name, started_at=ctx.started_at,
                  finished_at=ctx.finished_at or now_utc(), result=evidence_result(status, error),
                  restic_version=ctx.restic_version, snapshot_id=ctx.snapshot_id, snapshot_time=ctx.snapshot_time,
                  bytes=ctx.bytes, files=ctx.files, phases=dict(ctx.phases),
                  measured=ctx.measured.to_measured() if ctx.measured is not None else {},
                  errors=lines[:MAX_ERRORS], repository=ctx.repository)


def run_job(state_dir: Path, policy: Policy, job: str, policy_file: Path | None = None) -> RunOutcome:
    """The daemon's entry: one scheduled run; never raises (a worker thread must survive any run).

    The workspace is opened per run: SQLite connections belong to the thread that made them."""
    started = now_utc()
    ws = Workspace(state_dir)
    try:
        run = JOB_KINDS[job].run
        if run is None:
            raise errors.UsageError(f"{job} runs only on request, never on a schedule")
        return run(ws, policy, policy_file)
    except errors.DrkitError as exc:  # raised before the lifecycle started (e.g. no retention section)
        return RunOutcome(policy.name, job, status_of_error(exc), exc, None, started, now_utc())
    except Exception as exc:  # noqa: BLE001 - a bug in one job must not stop the daemon
        log.error("%s %s: internal error: %s: %s", policy.name, job, type(exc).__name__, exc,
                  exc_info=log.isEnabledFor(logging.DEBUG))
        error = errors.DrkitError(f"internal error: {type(exc).__name__}: {exc}")
        return RunOutcome(policy.name, job, RunStatus.FAILED, error, None, started, now_utc())
    finally:
        ws.close()


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
        ws.close()
    outcome = RunOutcome(policy.name, job, RunStatus.MISSED, errors.DrkitError(f"{job} of {policy.name} missed: {reason}"),
                         None, now, now)
    threading.Thread(target=notify_outcome, args=(policy, job, outcome), daemon=True).start()
