"""Child processes drkit must be able to stop: started in their own session, tracked so a signal
handler can stop them all, streamed line by line, stopped after a timeout.

Every child is stopped with SIGINT first: restic 0.14 removes its repository lock only on SIGINT
(SIGTERM kills it on the spot and leaves a stale lock; measured: exit -15, lock listed afterwards).
restic is the only user today (drkit/engines/restic/runner.py); nothing here knows restic.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from drkit.core import errors

STDERR_TAIL_LINES = 200

# Children currently running, so a signal handler can stop them (see terminate_running).
_running: set[subprocess.Popen] = set()
_running_lock = threading.Lock()
# Children stopped by terminate_running: their exit is an interruption, not a failure of the child.
_stopped: set[subprocess.Popen] = set()
_refusing = threading.Event()


@dataclass
class Ended:
    """How a streamed child ended; filled in once it has."""

    returncode: int = -1
    stderr: str = ""         # the last STDERR_TAIL_LINES lines
    timed_out: bool = False  # stopped by the watchdog after `timeout`
    stopped: bool = False    # stopped by terminate_running (drkit is shutting down)


def start(argv: list[str], *, env: dict[str, str], stdin: IO[bytes] | int | None, label: str) -> subprocess.Popen:
    """Start a tracked child in its own session: a terminal's Ctrl-C then reaches drkit only, which
    stops the child itself (terminate_running), so a daemon's grace period holds for interactive
    runs too. `label` names the child in the error raised while drkit is shutting down."""
    with _running_lock:
        if _refusing.is_set():
            raise errors.Interrupted(f"{label}: not started, drkit is shutting down")
        proc = subprocess.Popen(argv, env=env, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=False,
                                start_new_session=True)
        _running.add(proc)
    return proc


def stream_lines(proc: subprocess.Popen, ended: Ended, *, timeout: float | None = None,
                 on_stderr: Callable[[str], None] | None = None) -> Iterator[str]:
    """Yield the child's stdout lines as it prints them; fill `ended` once it has ended.

    A caller that stops iterating early (Ctrl-C, an exception) stops the child (SIGINT, then SIGKILL)."""
    stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

    def pump() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            stderr_tail.append(line)
            if on_stderr:
                on_stderr(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timer = Watchdog(proc, timeout)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            yield raw.decode("utf-8", "replace").rstrip("\n")
        proc.wait()
        reader.join(5)
    finally:
        timer.cancel()
        if proc.poll() is None:  # abandoned early (Ctrl-C, an exception in the caller)
            stop_child(proc, grace=10.0)
        with _running_lock:
            _running.discard(proc)
            ended.stopped = proc in _stopped
            _stopped.discard(proc)
    ended.returncode = proc.returncode
    ended.stderr = "\n".join(stderr_tail)
    ended.timed_out = timer.fired


def stop_child(proc: subprocess.Popen, grace: float) -> None:
    """SIGINT, so restic removes its repository lock; SIGKILL when it has not ended after `grace`."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def terminate_running(grace: float = 10.0, *, refuse_new: bool = False) -> None:
    """Stop every tracked child (SIGINT, then SIGKILL after `grace`).

    `refuse_new` makes later starts raise Interrupted, so a job that is shutting down cannot start
    another child.
    """
    if refuse_new:
        _refusing.set()
    with _running_lock:
        children = list(_running)
        _stopped.update(children)
    for proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace
    for proc in children:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


class Watchdog:
    """Stop the child after `timeout` seconds (SIGINT, then SIGKILL after 10 s)."""

    def __init__(self, proc: subprocess.Popen, timeout: float | None):
        self.fired = False
        self._timer = threading.Timer(timeout, self._fire, args=(proc,)) if timeout else None
        if self._timer:
            self._timer.daemon = True
            self._timer.start()

    def _fire(self, proc: subprocess.Popen) -> None:
        self.fired = True
        proc.send_signal(signal.SIGINT)  # restic 0.14 removes its lock on SIGINT only
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    def cancel(self) -> None:
        if self._timer:
            self._timer.cancel()
