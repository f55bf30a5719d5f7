"""The one way drkit starts a program other than restic: command targets, pg_dump, command checks.

argv only, never a shell, so nothing from a policy is re-parsed by /bin/sh; secrets travel in the
child's environment (PGPASSWORD, ...), never in argv, which every local user can read in /proc.
Each child leads its own process group: on a timeout, an exception in drkit, Ctrl-C or SIGTERM the
whole group gets SIGTERM, then SIGKILL after a grace period, so a shell's background children
cannot outlive the run and keep writing into a staging dir or a drill sandbox.
(restic's children are started by drkit/engines/restic.py, which stops them with SIGINT instead.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from drkit.core import errors
from drkit.core.durations import format_duration

GRACE_S = 5.0  # SIGTERM -> SIGKILL

# Children currently running (by pid), so terminate_running can stop those of other threads.
_running: dict[int, subprocess.Popen] = {}
_stopped: set[int] = set()
_lock = threading.Lock()
_refusing = threading.Event()


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
        cwd: Path | None = None, stdout: Path | None = None, grace: float = GRACE_S) -> Completed:
    """Run `argv` to its end and return how it ended (a non-zero exit is the caller's to judge).

    `env` defaults to `child_env()`; `stdout` names a file for the program's output (else it is
    captured). Raises ProcessError (not found, not executable, timed out) and errors.Interrupted
    when terminate_running stopped it; Ctrl-C and other exceptions stop the group and propagate.
    """
    with _lock:
        if _refusing.is_set():
            raise errors.Interrupted(f"{argv[0]}: not started, drkit is shutting down")
        proc = _start(argv, env, cwd, stdout)
        _running[proc.pid] = proc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc, grace)
        raise ProcessError(f"{argv[0]} timed out after {format_duration(timeout)} and was stopped") from None
    except BaseException:  # Ctrl-C, SIGTERM's Interrupted, a bug: never leave the group running
        stop_group(proc, grace)
        raise
    finally:
        with _lock:
            _running.pop(proc.pid, None)
            stopped = proc.pid in _stopped
            _stopped.discard(proc.pid)
    if stopped:
        raise errors.Interrupted(f"{argv[0]} was stopped because drkit is shutting down")
    return Completed(argv[0], proc.returncode, out or b"", err or b"")


def _start(argv: Sequence[str], env: Mapping[str, str] | None, cwd: Path | None,
           stdout: Path | None) -> subprocess.Popen:
    where = f" (cwd {cwd})" if cwd is not None and "/" in argv[0] and not argv[0].startswith("/") else ""
    with open(stdout, "wb") if stdout is not None else contextlib.nullcontext() as out:
        try:
            return subprocess.Popen(list(argv), env=dict(env) if env is not None else child_env(), cwd=cwd,
                                    stdin=subprocess.DEVNULL, stdout=out if out is not None else subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError as exc:
            if cwd is not None and str(exc.filename) == str(cwd):
                raise ProcessError(f"{argv[0]}: working directory {cwd} does not exist") from None
            raise ProgramNotFound(f"program {argv[0]!r} not found{where}") from None
        except PermissionError:
            raise ProcessError(f"program {argv[0]!r} is not executable{where}") from None


def stop_group(proc: subprocess.Popen, grace: float = GRACE_S) -> None:
    """SIGTERM the child's process group, SIGKILL it after `grace`, reap the child."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc.pid, signal.SIGKILL)  # members that ignored SIGTERM or outlived the leader
    proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()  # a member outside the group may still hold the write end: do not read


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already


def terminate_running(grace: float = GRACE_S, *, refuse_new: bool = False) -> None:
    """Stop every child started by `run` in any thread; their `run` raises errors.Interrupted.

    Called on SIGTERM and by the daemon's shutdown next to restic's terminate_running;
    `refuse_new` makes later `run` calls raise Interrupted instead of starting a program.
    """
    if refuse_new:
        _refusing.set()
    with _lock:
        children = list(_running.values())
        _stopped.update(p.pid for p in children)
    for proc in children:
        _signal_group(proc.pid, signal.SIGTERM)
    for proc in children:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc.pid, signal.SIGKILL)  # members holding the pipes would block their `run`


def last_line(data: bytes) -> str:
    """The last non-empty line of a program's output, shortened for a one-line message."""
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""
