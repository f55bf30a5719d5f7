"""The one place drkit starts programs and stops them again (docs/architecture.md).

Two ways to run a child, one registry of running children:
- `start` + `stream_lines`: restic (drkit/engines/restic/runner.py), streamed line by line and
  stopped with SIGINT first: restic 0.14 removes its repository lock only on SIGINT (SIGTERM kills
  it on the spot and leaves a stale lock; measured: exit -15, lock listed afterwards).
- `run`: every other program (command targets, pg_dump, command checks): argv only, never a shell,
  secrets in the child's environment (PGPASSFILE, ...), never in argv, which every local user can
  read in /proc. Each child leads its own process group: on a timeout, an exception in drkit,
  Ctrl-C or SIGTERM the whole group gets SIGTERM, then SIGKILL after a grace period, so a shell's
  background children cannot outlive the run and keep writing into a staging dir or a sandbox.
- `serve`: a long-running child that drkit stops itself (a drill's throw-away database server,
  docs/databases.md), with the signal that shuts it down cleanly; terminate_running stops it too.

`terminate_running` (SIGTERM handler, daemon shutdown) stops every tracked child of both kinds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from drkit.core import errors
from drkit.core.durations import format_duration

GRACE_S = 5.0  # SIGTERM -> SIGKILL for programs
STDERR_TAIL_LINES = 200

# Children currently running, by pid, with how each is stopped, so terminate_running can stop
# those of every thread; pids stopped that way: their end is an interruption, not their failure.
_running: dict[int, tuple[subprocess.Popen, Callable[[subprocess.Popen, float], None]]] = {}
_stopped: set[int] = set()
_lock = threading.Lock()
_refusing = threading.Event()


def _track(label: str, launch: Callable[[], subprocess.Popen],
           stop: Callable[[subprocess.Popen, float], None]) -> subprocess.Popen:
    with _lock:
        if _refusing.is_set():
            raise errors.Interrupted(f"{label}: not started, drkit is shutting down")
        proc = launch()
        _running[proc.pid] = (proc, stop)
    return proc


def _untrack(proc: subprocess.Popen) -> bool:
    """Forget a child that ended; True when terminate_running had stopped it."""
    with _lock:
        _running.pop(proc.pid, None)
        stopped = proc.pid in _stopped
        _stopped.discard(proc.pid)
    return stopped


def terminate_running(grace: float = 10.0, *, refuse_new: bool = False) -> None:
    """Stop every tracked child (restic: SIGINT; programs: their group SIGTERM), SIGKILL after `grace`.

    `refuse_new` makes later starts raise Interrupted, so a job that is shutting down cannot start
    another child."""
    if refuse_new:
        _refusing.set()
    with _lock:
        children = list(_running.values())
        _stopped.update(proc.pid for proc, _stop in children)
    stoppers = [threading.Thread(target=stop, args=(proc, grace), daemon=True) for proc, stop in children]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join(grace + 5)


# --- restic: streamed, stopped with SIGINT ------------------------------------------------------

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
    return _track(label, lambda: subprocess.Popen(
        argv, env=env, stdin=stdin if stdin is not None else subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=False, start_new_session=True), stop_child)


def stream_lines(proc: subprocess.Popen, ended: Ended, *, timeout: float | None = None,
                 on_stderr: Callable[[str], None] | None = None) -> Iterator[str]:
    """Yield the child's stdout lines as it prints them; fill `ended` once it has ended.

    A caller that stops iterating early (Ctrl-C, an exception) stops the child (SIGINT, then SIGKILL)."""
    assert proc.stdout is not None
    for raw in _supervised(proc, ended, iter(proc.stdout), timeout=timeout, on_stderr=on_stderr):
        yield raw.decode("utf-8", "replace").rstrip("\n")


def stream_chunks(proc: subprocess.Popen, ended: Ended, *, timeout: float | None = None,
                  on_stderr: Callable[[str], None] | None = None, size: int = 1 << 16) -> Iterator[bytes]:
    """Like `stream_lines`, for binary output (`restic dump`): stdout in chunks of up to `size` bytes."""
    assert proc.stdout is not None
    read = proc.stdout.read1 if hasattr(proc.stdout, "read1") else proc.stdout.read
    yield from _supervised(proc, ended, iter(lambda: read(size), b""), timeout=timeout, on_stderr=on_stderr)


def _supervised(proc: subprocess.Popen, ended: Ended, stdout: Iterator[bytes], *, timeout: float | None,
                on_stderr: Callable[[str], None] | None) -> Iterator[bytes]:
    """Yield what `stdout` reads while a thread keeps the stderr tail and a watchdog the timeout."""
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
        yield from stdout
        proc.wait()
        reader.join(5)
    finally:
        timer.cancel()
        if proc.poll() is None:  # abandoned early (Ctrl-C, an exception in the caller)
            stop_child(proc, grace=10.0)
        ended.stopped = _untrack(proc)
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


# --- other programs: run to the end, stopped by process group ------------------------------------

class ProcessError(Exception):
    """The program did not run to its end: not found, not executable, timed out."""


class ProgramNotFound(ProcessError):
    """argv[0] is not on PATH (or not at the relative path given)."""


@dataclass(frozen=True)
class Completed:
    """A program that ran to its end, successfully or not."""

    program: str
    returncode: int
    stdout: bytes  # empty when stdout went to a file
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def status(self) -> str:
        """'exited 3' or 'was killed by signal 9': the start of a one-line message."""
        if self.returncode < 0:
            return f"was killed by signal {-self.returncode}"
        return f"exited {self.returncode}"

    def last_line(self) -> str:
        """The last non-empty line of stderr, else of stdout: what a one-line message quotes."""
        return last_line(self.stderr) or last_line(self.stdout)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """drkit's environment without restic's secrets (RESTIC_*), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update(extra or {})
    return env


def run(argv: Sequence[str], *, timeout: float | None, env: Mapping[str, str] | None = None,
        cwd: Path | None = None, stdout: Path | None = None, stdin: Path | None = None,
        grace: float = GRACE_S) -> Completed:
    """Run `argv` to its end and return how it ended (a non-zero exit is the caller's to judge).

    `env` defaults to `child_env()`; `stdout` names a file for the program's output (else it is
    captured); `stdin` a file to read (else it reads nothing). Raises ProcessError (not found, not
    executable, timed out) and errors.Interrupted when terminate_running stopped it; Ctrl-C and
    other exceptions stop the group and propagate.
    """
    proc = _track(argv[0], lambda: _start(argv, env, cwd, stdout, stdin), _terminate_group)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc, grace)
        raise ProcessError(f"{argv[0]} timed out after {format_duration(timeout)} and was stopped") from None
    except BaseException:  # Ctrl-C, SIGTERM's Interrupted, a bug: never leave the group running
        stop_group(proc, grace)
        raise
    finally:
        stopped = _untrack(proc)
    if stopped:
        raise errors.Interrupted(f"{argv[0]} was stopped because drkit is shutting down")
    return Completed(argv[0], proc.returncode, out or b"", err or b"")


def _start(argv: Sequence[str], env: Mapping[str, str] | None, cwd: Path | None, stdout: Path | None,
           stdin: Path | None = None) -> subprocess.Popen:
    where = f" (cwd {cwd})" if cwd is not None and "/" in argv[0] and not argv[0].startswith("/") else ""
    with (open(stdout, "wb") if stdout is not None else contextlib.nullcontext() as out,
          open(stdin, "rb") if stdin is not None else contextlib.nullcontext() as source):
        try:
            return subprocess.Popen(list(argv), env=dict(env) if env is not None else child_env(), cwd=cwd,
                                    stdin=source if source is not None else subprocess.DEVNULL,
                                    stdout=out if out is not None else subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError as exc:
            if cwd is not None and str(exc.filename) == str(cwd):
                raise ProcessError(f"{argv[0]}: working directory {cwd} does not exist") from None
            raise ProgramNotFound(f"program {argv[0]!r} not found{where}") from None
        except PermissionError:
            raise ProcessError(f"program {argv[0]!r} is not executable{where}") from None


# --- servers: running until drkit stops them ------------------------------------------------------

@dataclass
class Service:
    """A long-running child in its own process group, tracked so that terminate_running stops it
    (SIGTERM to drkit, the daemon's shutdown); `stop` is the normal end. Its stdout and stderr go
    to `log`, which start-up failures quote."""

    proc: subprocess.Popen
    label: str
    stop_signal: signal.Signals
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 30.0) -> None:
        """`stop_signal` to the group (a clean shutdown), SIGKILL to what is left after `grace`;
        only signals, so it works while drkit refuses to start programs (shutting down)."""
        try:
            _stop_service(self.proc, grace, self.stop_signal)
        finally:
            _untrack(self.proc)

    def log_tail(self, lines: int = 3) -> str:
        """The last lines of the log, joined into one line, for an error message."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return " / ".join([ln.strip() for ln in text.splitlines() if ln.strip()][-lines:])[:400]


def serve(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path, stop_signal: signal.Signals,
          label: str) -> Service:
    """Start a server that runs until `Service.stop` (or terminate_running, which sends it
    `stop_signal` too). Raises ProgramNotFound / ProcessError like `run`."""
    def launch() -> subprocess.Popen:
        with open(log, "ab") as out:
            return _start_logged(argv, env, cwd, out)

    proc = _track(label, launch, lambda p, grace: _stop_service(p, grace, stop_signal))
    return Service(proc, label, stop_signal, log)


def _start_logged(argv: Sequence[str], env: Mapping[str, str], cwd: Path, out: IO[bytes]) -> subprocess.Popen:
    try:
        return subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except FileNotFoundError:
        raise ProgramNotFound(f"program {argv[0]!r} not found") from None
    except PermissionError:
        raise ProcessError(f"program {argv[0]!r} is not executable") from None


def _stop_service(proc: subprocess.Popen, grace: float, stop_signal: signal.Signals) -> None:
    if proc.poll() is None:
        _signal_group(proc.pid, stop_signal)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(proc.pid, signal.SIGKILL)  # backends the server left behind
    proc.wait()


def stop_group(proc: subprocess.Popen, grace: float = GRACE_S) -> None:
    """SIGTERM the child's process group, SIGKILL it after `grace`, reap the child."""
    _terminate_group(proc, grace)
    proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()  # a member outside the group may still hold the write end: do not read


def _terminate_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM the group, SIGKILL it after `grace` (members that ignored SIGTERM or outlived the
    leader, or hold the pipes); terminate_running's stop, where `run` (another thread) reaps."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already


def last_line(data: bytes) -> str:
    """The last non-empty line of a program's output, shortened for a one-line message."""
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""
