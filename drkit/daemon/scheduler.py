"""`drkit scheduler run`: the foreground daemon that runs every policy's jobs on their schedules.

The main thread only keeps time: the `schedule` library decides when a job is due and its job
function merely queues the run, so the loop never blocks on restic. Worker threads (up to
--max-parallel) take runs from the queue, never two of one policy at once; the per-policy flock
still guards against manual runs and cron. The idle loop sleeps until the next due job, at most
WAKE_S at a time; signals wake it at once through a wakeup fd, and the handlers only set flags.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import socket
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Callable

import schedule

from drkit.core import errors, logs
from drkit.core.display import count_of
from drkit.core.jsonshape import JsonDocument
from drkit.core.policy import LoadedPolicy, Policy
from drkit.core.schedules import SchedulePhrase
from drkit.engines import process
from drkit.engines.catalog import Catalog
from drkit.engines.locks import PolicyLock
from drkit.evidence.records import RAN, now_utc, parse_utc, utc_text
from drkit.jobs import backup, copy, forget, repo_check  # noqa: F401 - registers the job kinds the daemon runs
from drkit.jobs.drill import run as drill  # noqa: F401
from drkit.jobs.lifecycle import CATCH_UP_ORDER, RunOutcome, record_missed, run_job

WAKE_S = 5.0            # longest idle sleep: bounds the reaction to clock changes
AFTER_STOP_S = 30.0     # after restic was stopped: time left for recording evidence
STATE_FILE = "scheduler.json"


# --- what runs when (pure) -------------------------------------------------------------------

@dataclass(frozen=True)
class JobSpec:
    policy: str
    job: str
    phrase: SchedulePhrase

    @property
    def key(self) -> str:
        return f"{self.policy}/{self.job}"


def job_specs(policies: list[Policy]) -> list[JobSpec]:
    """Every scheduled job, per policy in catch-up order (backup, copy, forget, check, drill)."""
    return [JobSpec(p.name, job, phrase) for p in policies for job in CATCH_UP_ORDER
            if (phrase := p.schedule.phrase(job)) is not None]


def catch_up_due(spec: JobSpec, last_run: datetime | None, now: datetime) -> bool:
    """Run once at start-up when the job never ran or its last run is older than its interval."""
    return last_run is None or now - last_run >= spec.phrase.nominal_interval


def last_run(catalog: Catalog, spec: JobSpec) -> datetime | None:
    """Start of the newest run of this job that started, any result (evidence kinds are the job
    names); a missed run does not count, so it is caught up."""
    record = catalog.last_record(spec.policy, spec.job, RAN)
    return record.started_at if record else None


@dataclass(frozen=True)
class PlannedJob:
    policy: str
    job: str
    phrase: str
    runs: list[datetime]   # aware UTC, ascending
    total: int             # runs in the window (runs may be truncated)
    next: datetime | None = None  # the first run, also when it lies beyond the window

    def as_dict(self) -> dict:
        return {"policy": self.policy, "job": self.job, "schedule": self.phrase, "total": self.total,
                "next": utc_text(self.next) if self.next else None, "runs": [utc_text(t) for t in self.runs]}


@dataclass(frozen=True)
class SchedulePlan(JsonDocument, schema="drkit.scheduler-plan/1"):
    """`drkit scheduler plan`: every job's runs from now to `generated_at + days`."""

    generated_at: datetime
    days: float
    source: str  # whose first runs: "running scheduler" or "a scheduler started now"
    jobs: list[PlannedJob]

    def json_fields(self) -> dict:
        return {"generated_at": utc_text(self.generated_at), "days": self.days, "source": self.source,
                "jobs": [p.as_dict() for p in self.jobs]}


def schedule_plan(policies: list[Policy], state_dir: Path, now: datetime, days: float) -> SchedulePlan:
    """The plan of a running scheduler (its published first runs) or else of one started now."""
    specs = job_specs(policies)
    firsts = first_runs_now(specs)
    published = published_first_runs(state_dir) or {}
    firsts.update({key: when for key, when in published.items() if key in firsts})
    source = "running scheduler" if published else "a scheduler started now"
    return SchedulePlan(now, days, source, plan(specs, firsts, now + timedelta(days=days)))


def first_runs_now(specs: list[JobSpec]) -> dict[str, datetime]:
    """When each job would first run if the daemon started now: ask `schedule` itself."""
    scheduler = schedule.Scheduler()
    firsts = {}
    for spec in specs:
        job = spec.phrase.register(scheduler, lambda: None)
        firsts[spec.key] = job.next_run.astimezone(timezone.utc)
    return firsts


def plan(specs: list[JobSpec], first_runs: dict[str, datetime], until: datetime, limit: int = 1000) -> list[PlannedJob]:
    """Runs per job from its first run (as the daemon computed it) to `until`, on the phrase's grid."""
    planned = []
    for spec in specs:
        first = first_runs.get(spec.key)
        runs = [] if first is None or first > until else spec.phrase.occurrences(first, until, anchor=first)
        planned.append(PlannedJob(spec.policy, spec.job, spec.phrase.text, runs[:limit], len(runs), first))
    return planned


# --- the run queue ---------------------------------------------------------------------------

@dataclass
class QueuedRun:
    spec: JobSpec
    policy: Policy
    reason: str                      # schedule | catch-up
    ready_at: float = 0.0            # time.monotonic(); later than now when jittered


class RunQueue:
    """Pending runs. A run is handed out only when its policy is idle, so one policy's jobs queue
    behind each other instead of failing on the policy lock; a job already waiting is not queued
    twice (the later run is reported as missed)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: list[QueuedRun] = []
        self._busy: dict[str, QueuedRun] = {}
        self._closed = False

    def put(self, run: QueuedRun) -> bool:
        with self._cond:
            if self._closed or any(p.spec.key == run.spec.key for p in self._pending):
                return False
            self._pending.append(run)
            self._cond.notify_all()
            return True

    def take(self) -> QueuedRun | None:
        """Block until a run may start; None once the queue is closed."""
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                free = [p for p in self._pending if p.spec.policy not in self._busy]
                ready = next((p for p in free if p.ready_at <= now), None)
                if ready is not None:
                    self._pending.remove(ready)
                    self._busy[ready.spec.policy] = ready
                    return ready
                self._cond.wait(min((p.ready_at - now for p in free), default=None))
            return None

    def done(self, run: QueuedRun) -> None:
        with self._cond:
            self._busy.pop(run.spec.policy, None)
            self._cond.notify_all()

    def close(self) -> list[QueuedRun]:
        """Stop handing out runs; return the ones that never started."""
        with self._cond:
            self._closed = True
            dropped, self._pending = self._pending, []
            self._cond.notify_all()
            return dropped

    def running(self) -> list[QueuedRun]:
        with self._cond:
            return list(self._busy.values())

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._busy


# --- structured log --------------------------------------------------------------------------

class EventLog:
    """One line per job start and end (text, or JSON lines), plus daemon events."""

    def __init__(self, fmt: str = "text", stream: IO[str] | None = None):
        self.fmt = fmt
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()
        # Under systemd, text lines start with their syslog priority (`<3>` failed, `<4>` breach,
        # partial, interrupted, locked, missed, `<6>` the rest); JSON lines stay plain JSON.
        self.journal = fmt == "text" and logs.under_journal(self.stream)

    def job_start(self, spec: JobSpec, reason: str) -> None:
        self._emit({"policy": spec.policy, "job": spec.job, "event": "start", "status": None, "duration_s": None,
                    "snapshot": None, "reason": reason})

    def job_end(self, spec: JobSpec, status: str, duration_s: float, snapshot: str | None,
                message: str | None) -> None:
        self._emit({"policy": spec.policy, "job": spec.job, "event": "end", "status": status,
                    "duration_s": round(duration_s, 3), "snapshot": snapshot, "message": message})

    def daemon(self, event: str, status: str, message: str) -> None:
        self._emit({"policy": None, "job": None, "event": event, "status": status, "message": message})

    def _emit(self, fields: dict) -> None:
        fields = {"ts": utc_text(now_utc()), **fields}
        line = json.dumps(fields, sort_keys=False) if self.fmt == "json" else _text_line(fields)
        if self.journal:
            line = f"<{_STATUS_PRIORITY.get(fields.get('status') or 'ok', logs.WARNING)}>{line}"
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


_STATUS_PRIORITY = {"ok": logs.INFO, "failed": logs.ERR}


def _text_line(f: dict) -> str:
    who = f"{f['policy']} {f['job']}" if f.get("policy") else "drkit"
    line = f"{f['ts'][:19]}Z {who} {f['event']}"
    if f.get("reason"):
        return line + f" ({f['reason']})"
    if f.get("duration_s") is not None:
        line += f" status={f['status']} duration_s={f['duration_s']:.1f}"
        if f.get("snapshot"):
            line += f" snapshot={f['snapshot']}"
    elif f.get("status"):
        line += f" status={f['status']}"
    if f.get("message"):
        line += f" message={json.dumps(f['message'])}"
    return line


# --- the daemon ------------------------------------------------------------------------------

@dataclass
class Options:
    once: bool = False
    max_parallel: int = 1
    jitter_s: float = 0.0
    grace_s: float = 30.0
    log_format: str = "text"
    prometheus: Path | None = None   # node-exporter textfile refreshed at start and after every run


@dataclass
class Daemon:
    state_dir: Path
    load: Callable[[], list[LoadedPolicy]]       # raises PolicyError on an invalid set
    options: Options = field(default_factory=Options)
    log: EventLog = field(default_factory=EventLog)
    runner: Callable[..., RunOutcome] = run_job

    def __post_init__(self) -> None:
        self.scheduler = schedule.Scheduler()
        self.queue = RunQueue()
        self.results: list[RunOutcome] = []
        self.policies: list[LoadedPolicy] = []
        self._signals: list[int] = []
        self._wake_r, self._wake_w = socket.socketpair()
        for end in (self._wake_r, self._wake_w):
            end.setblocking(False)
        self._published: dict[str, str] | None = None
        self._metrics_lock = threading.Lock()

    # --- lifecycle ---

    def run(self) -> int:
        """Run until a signal (or, with --once, until the due jobs are done); return the exit code."""
        self.policies = self.load()   # invalid policies: exit 2 before anything is created
        with errors.state_writes("create the state directory", self.state_dir):
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = self._daemon_lock()
        catalog = Catalog(self.state_dir / "catalog.sqlite")
        previous = self._install_signals()
        try:
            self._prepare_state()
            self._refresh_metrics()   # node_exporter shows the current state from the daemon's start
            workers = [threading.Thread(target=self._work, name=f"drkit-worker-{i}", daemon=True)
                       for i in range(self.options.max_parallel)]
            for worker in workers:
                worker.start()
            self._register()
            overdue = self._overdue(catalog)
            self.log.daemon("start", "ok", f"pid {os.getpid()}: {count_of(len(self.policies), 'policy')}, "
                                           f"{count_of(len(job_specs(self._policy_models())), 'scheduled job')}, "
                                           f"{len(overdue)} to catch up" + (", --once" if self.options.once else ""))
            self._warn_unrunnable()
            self._catch_up(overdue)
            stopped_by_signal = self._loop(catalog)
            self._shutdown(stopped_by_signal)
        finally:
            self._restore_signals(previous)
            catalog.close()
            (self.state_dir / STATE_FILE).unlink(missing_ok=True)
            lock.release()
        if stopped_by_signal:
            return 0
        return max((r.exit_code for r in self.results), default=0)

    def _loop(self, catalog: Catalog) -> bool:
        """Keep time until stopped; True when a signal ended it."""
        while True:
            if self._take_signal(signal.SIGHUP):
                self._reload(catalog)
            if any(s in self._signals for s in (signal.SIGTERM, signal.SIGINT)):
                return True
            if self.options.once:
                if self.queue.idle():
                    return False
                self._sleep(WAKE_S)
                continue
            self.scheduler.run_pending()
            self._publish()
            idle = self.scheduler.idle_seconds
            self._sleep(WAKE_S if idle is None else min(max(idle, 0.0), WAKE_S))

    def _shutdown(self, by_signal: bool) -> None:
        """Stop scheduling; let running jobs finish within the grace period, then stop restic."""
        self.scheduler.clear()
        for run in self.queue.close():
            self._missed(run.spec, run.policy, "not started: the scheduler is stopping")
        if not by_signal:
            return
        running = self.queue.running()
        if running:
            names = ", ".join(r.spec.key for r in running)
            self.log.daemon("stop", "waiting", f"letting {names} finish (grace {self.options.grace_s:g}s)")
        deadline = time.monotonic() + self.options.grace_s
        stops = sum(self._signals.count(s) for s in (signal.SIGTERM, signal.SIGINT))
        while self.queue.running() and time.monotonic() < deadline:
            if sum(self._signals.count(s) for s in (signal.SIGTERM, signal.SIGINT)) > stops:
                break  # a second signal: no more grace
            self._sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        if self.queue.running():
            self.log.daemon("stop", "interrupting", "grace period over: stopping restic")
            process.terminate_running(grace=10.0, refuse_new=True)  # restic, dumps and command checks
            deadline = time.monotonic() + AFTER_STOP_S
            while self.queue.running() and time.monotonic() < deadline:
                self._sleep(0.2)
        left = self.queue.running()
        self.log.daemon("stop", "ok" if not left else "abandoned",
                        "stopped" if not left else f"exiting while {', '.join(r.spec.key for r in left)} still runs")

    # --- policies and jobs ---

    def _policy_models(self) -> list[Policy]:
        return [item.policy for item in self.policies]

    def _register(self) -> None:
        self.scheduler.clear()
        by_name = {item.name: item.policy for item in self.policies}
        for spec in job_specs(self._policy_models()):
            spec.phrase.register(self.scheduler, self._due, spec, by_name[spec.policy]).tag(spec.key)

    def _overdue(self, catalog: Catalog) -> list[JobSpec]:
        now = now_utc()
        return [spec for spec in job_specs(self._policy_models()) if catch_up_due(spec, last_run(catalog, spec), now)]

    def _catch_up(self, overdue: list[JobSpec]) -> None:
        by_name = {item.name: item.policy for item in self.policies}
        for spec in overdue:
            self._enqueue(spec, by_name[spec.policy], "catch-up")

    def _due(self, spec: JobSpec, policy: Policy) -> None:
        """The `schedule` job function: queue the run and return at once."""
        self._enqueue(spec, policy, "schedule")

    def _enqueue(self, spec: JobSpec, policy: Policy, reason: str) -> bool:
        delay = random.uniform(0.0, self.options.jitter_s) if self.options.jitter_s else 0.0
        if self.queue.put(QueuedRun(spec, policy, reason, time.monotonic() + delay)):
            return True
        self._missed(spec, policy, f"{reason} run skipped: the previous run is still waiting")
        return False

    def _missed(self, spec: JobSpec, policy: Policy, reason: str) -> None:
        """Log, record (locally, upload later: the loop must not wait on S3) and notify a missed run."""
        self.log.job_end(spec, "missed", 0.0, None, reason)
        record_missed(self.state_dir, policy, spec.job, reason)

    def _reload(self, catalog: Catalog) -> None:
        """SIGHUP: swap in the new policy set only when all of it is valid."""
        try:
            new = self.load()
        except errors.PolicyError as exc:
            self.log.daemon("reload", "failed", f"kept the previous {count_of(len(self.policies), 'policy')}: "
                                                + "; ".join(map(str, exc.problems)))
            return
        except errors.DrkitError as exc:
            self.log.daemon("reload", "failed", f"kept the previous {count_of(len(self.policies), 'policy')}: {exc}")
            return
        self.policies = new
        self._register()
        overdue = self._overdue(catalog)
        self.log.daemon("reload", "ok", f"{count_of(len(new), 'policy')}, "
                                        f"{count_of(len(job_specs(self._policy_models())), 'scheduled job')}, "
                                        f"{len(overdue)} to catch up")
        self._warn_unrunnable()
        self._catch_up(overdue)

    def _warn_unrunnable(self) -> None:
        for item in self.policies:
            if item.policy.schedule.forget is not None and item.policy.retention.is_empty():
                self.log.daemon("config", "warning", f"{item.file}: schedule.forget is set but there is no "
                                                     f"retention section; every forget run will fail")

    # --- workers ---

    def _work(self) -> None:
        while (run := self.queue.take()) is not None:
            self.log.job_start(run.spec, run.reason)
            policy_file = next((p.file for p in self.policies if p.name == run.policy.name), None)
            outcome = self.runner(self.state_dir, run.policy, run.spec.job, policy_file)
            self.log.job_end(run.spec, outcome.status, outcome.duration_s, outcome.snapshot,
                             None if outcome.status == "ok" else outcome.message)
            self.results.append(outcome)
            self._refresh_metrics()
            self.queue.done(run)
            self._poke()

    def _refresh_metrics(self) -> None:
        """Rewrite the textfile (docs/operations.md, "Prometheus"): one writer at a time, each with
        its own catalog connection since workers are threads."""
        if self.options.prometheus is None:
            return
        from drkit.views.textfile import refresh

        with self._metrics_lock, closing(Catalog(self.state_dir / "catalog.sqlite")) as catalog:
            refresh(catalog, self.state_dir, self._policy_models(), self.options.prometheus, now_utc())

    # --- signals and sleeping ---

    def _install_signals(self) -> dict:
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        for sig in previous:
            signal.signal(sig, self._on_signal)
        previous["wakeup_fd"] = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        return previous

    def _restore_signals(self, previous: dict) -> None:
        signal.set_wakeup_fd(previous.pop("wakeup_fd"))
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame) -> None:  # noqa: ARG002
        self._signals.append(signum)   # only a flag: the main loop acts on it

    def _take_signal(self, signum: int) -> bool:
        if signum in self._signals:
            self._signals = [s for s in self._signals if s != signum]
            return True
        return False

    def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once on a signal (wakeup fd) or a finished job (_poke)."""
        readable, _, _ = select.select([self._wake_r], [], [], seconds)
        if readable:
            try:
                while self._wake_r.recv(512):
                    pass
            except BlockingIOError:
                pass

    def _poke(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass

    # --- state shared with `scheduler plan` ---

    def _daemon_lock(self) -> PolicyLock:
        try:
            return PolicyLock(self.state_dir / "run", "scheduler", "scheduler").acquire()
        except errors.LockedError as exc:
            raise errors.LockedError(f"the scheduler for {self.state_dir} is {str(exc).split(': ', 1)[-1]}",
                                     hint="one scheduler per state directory") from None

    def _prepare_state(self) -> None:
        from drkit.engines.workspace import Workspace

        Workspace(self.state_dir).key  # noqa: B018 - create the evidence key once, before workers race for it

    def _publish(self) -> None:
        """Write each job's next run for `scheduler plan` (only when something changed)."""
        current = {next(iter(job.tags)): utc_text(job.next_run.astimezone(timezone.utc))
                   for job in self.scheduler.get_jobs() if job.next_run and job.tags}
        if current == self._published:
            return
        self._published = current
        state = {"pid": os.getpid(), "updated_at": utc_text(now_utc()), "next_runs": current}
        tmp = self.state_dir / (STATE_FILE + ".tmp")
        try:
            tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
            tmp.replace(self.state_dir / STATE_FILE)
        except OSError as exc:  # a full disk must not stop the schedule; `plan` then computes its own
            self.log.daemon("publish", "failed", f"could not write {tmp}: {exc.strerror}")


def published_first_runs(state_dir: Path) -> dict[str, datetime] | None:
    """Next runs published by a scheduler that is running now (its lock is held), else None."""
    lock_path = state_dir / "run" / "scheduler.lock"
    state_path = state_dir / STATE_FILE
    if not lock_path.exists() or not state_path.exists():
        return None
    import fcntl

    fd = os.open(lock_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # nobody holds it: the file is left over
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    try:
        data = json.loads(state_path.read_text())
        return {key: parse_utc(value) for key, value in data.get("next_runs", {}).items()}
    except (OSError, ValueError, AttributeError):
        return None

