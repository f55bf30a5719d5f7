"""The daemon's run queue (one policy's jobs never overlap, a waiting job is not queued twice) and
its structured log lines."""

from __future__ import annotations

import io
import json
import threading
import time

from drkit.core.policy import Policy
from drkit.core.schedules import parse_phrase
from drkit.daemon.scheduler import EventLog, JobSpec, QueuedRun, RunQueue

POLICY = Policy.model_validate({
    "version": 1, "name": "a", "objectives": {"rpo": "1d", "rto": "4h"}, "targets": [{"path": "/srv/data"}],
    "repository": {"url": "/srv/repo", "password_env": "PW"},
})


def run(policy: str, job: str, ready_at: float = 0.0) -> QueuedRun:
    return QueuedRun(JobSpec(policy, job, parse_phrase("every day at 01:30")), POLICY, "schedule", ready_at)


class Taker:
    """A worker blocked in take(), as the daemon's worker threads are."""

    def __init__(self, queue: RunQueue) -> None:
        self.got: list[QueuedRun | None] = []
        self.thread = threading.Thread(target=lambda: self.got.append(queue.take()), daemon=True)
        self.thread.start()

    def result(self, within: float) -> QueuedRun | None | str:
        self.thread.join(within)
        return self.got[0] if self.got else "still waiting"


def test_runs_of_one_policy_wait_for_each_other_while_other_policies_proceed() -> None:
    queue = RunQueue()
    for item in (run("a", "backup"), run("a", "check"), run("b", "backup")):
        assert queue.put(item)
    first = queue.take()
    assert first.spec.key == "a/backup"
    second = queue.take()
    assert second.spec.key == "b/backup"  # a/check waits for a/backup
    worker = Taker(queue)
    assert worker.result(0.3) == "still waiting"
    queue.done(first)
    third = worker.result(2)
    assert isinstance(third, QueuedRun) and third.spec.key == "a/check"


def test_a_job_already_waiting_is_not_queued_twice_but_may_queue_behind_its_running_self() -> None:
    queue = RunQueue()
    assert queue.put(run("a", "backup"))
    assert not queue.put(run("a", "backup"))       # still waiting: coalesced (reported as missed)
    running = queue.take()
    assert queue.put(run("a", "backup"))           # running, not waiting: the next run may queue
    assert not queue.idle()
    queue.done(running)
    assert queue.take().spec.key == "a/backup"


def test_a_jittered_run_is_handed_out_only_when_its_time_comes() -> None:
    queue = RunQueue()
    queue.put(run("a", "backup", ready_at=time.monotonic() + 0.6))
    started = time.monotonic()
    taken = Taker(queue).result(3)
    assert isinstance(taken, QueuedRun)
    assert time.monotonic() - started >= 0.55


def test_closing_returns_the_runs_that_never_started_and_releases_waiting_workers() -> None:
    queue = RunQueue()
    queue.put(run("a", "backup"))
    running = queue.take()
    queue.put(run("a", "check"))
    waiter = Taker(queue)
    assert waiter.result(0.1) == "still waiting"
    dropped = queue.close()
    assert [d.spec.key for d in dropped] == ["a/check"]
    assert waiter.result(2) is None
    assert [r.spec.key for r in queue.running()] == ["a/backup"]
    assert not queue.put(run("b", "backup"))
    queue.done(running)
    assert queue.idle()


def test_json_log_lines_carry_the_documented_fields() -> None:
    stream = io.StringIO()
    log = EventLog("json", stream)
    spec = JobSpec("shop-db", "backup", parse_phrase("every day at 01:30"))
    log.job_start(spec, "catch-up")
    log.job_end(spec, "ok", 12.34567, "1a2b3c4d", None)
    log.job_end(spec, "failed", 0.5, None, "backup: restic exited 1")
    start, end, failed = (json.loads(line) for line in stream.getvalue().splitlines())
    for line in (start, end, failed):
        assert {"ts", "policy", "job", "event", "status", "duration_s", "snapshot"} <= set(line)
        assert line["ts"].endswith("Z")
    assert (start["event"], start["status"], start["policy"], start["job"]) == ("start", None, "shop-db", "backup")
    assert (end["event"], end["status"], end["duration_s"], end["snapshot"]) == ("end", "ok", 12.346, "1a2b3c4d")
    assert failed["status"] == "failed" and failed["message"] == "backup: restic exited 1"


def test_text_log_lines_are_one_line_each() -> None:
    stream = io.StringIO()
    log = EventLog("text", stream)
    spec = JobSpec("shop-db", "check", parse_phrase("every saturday at 05:00"))
    log.job_start(spec, "schedule")
    log.job_end(spec, "failed", 3.21, None, 'repository damaged:\n "pack"')
    log.daemon("reload", "failed", "kept the previous 2 policies")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("shop-db check start (schedule)")
    assert 'shop-db check end status=failed duration_s=3.2 message="repository damaged:\\n \\"pack\\""' in lines[1]
    assert lines[2].endswith('drkit reload status=failed message="kept the previous 2 policies"')


def test_a_run_that_cannot_queue_is_recorded_as_missed_and_still_caught_up_later(tmp_path) -> None:
    from drkit.daemon.scheduler import Daemon, Options, catch_up_due, last_run
    from drkit.engines.catalog import Catalog

    log = io.StringIO()
    daemon = Daemon(tmp_path, load=lambda: [], options=Options(), log=EventLog("json", log))
    spec = JobSpec("a", "backup", parse_phrase("every day at 01:30"))
    assert daemon._enqueue(spec, POLICY, "schedule")
    assert not daemon._enqueue(spec, POLICY, "schedule")  # the first is still waiting

    end = json.loads(log.getvalue().splitlines()[-1])
    assert end["status"] == "missed" and "still waiting" in end["message"]
    catalog = Catalog(tmp_path / "catalog.sqlite")
    record = catalog.last_record("a", "backup")
    assert record is not None and record.result == "missed" and record.signature
    assert last_run(catalog, spec) is None  # a missed run is not a run: catch-up still happens
    assert catch_up_due(spec, last_run(catalog, spec), record.finished_at)
