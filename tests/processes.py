"""Processes in tests that kill things: a subreaper to run drkit under, and finding a process's
children or a program started by an installation.

This machine's PID 1 does not reap orphans: a killed drkit's restic would linger as a zombie, and
restic, probing the pid with signal 0, would take its lock for a live one. Running drkit under
`reaped()` makes a child subreaper adopt and reap every descendant, as init does on a real host.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REAPER = """
import ctypes, subprocess, sys
ctypes.CDLL(None).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
subprocess.Popen(sys.argv[1:])
import os
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
"""


def reaped(argv: list[str], **popen) -> subprocess.Popen:
    """Start `argv` under a subreaper; the returned process is the reaper (its only child is argv)."""
    return subprocess.Popen([sys.executable, "-c", REAPER, *argv], **popen)


def children(parent: int) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(pid))
    return found


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60, interval: float = 0.05):
    """Poll `condition` until it returns something true; return that, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def installation_processes(state_dir: Path) -> dict[int, list[str]]:
    """Live processes of the drkit installation at `state_dir` (drkit, restic, dump programs and
    checks all carry its DRKIT_STATE_DIR): pid -> argv. A zombie has no environment: not running."""
    marker = f"DRKIT_STATE_DIR={state_dir}".encode()
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
                found[int(pid)] = [arg.decode(errors="replace") for arg in argv]
        except OSError:
            continue
    return found


def running_program(state_dir: Path, *words: str) -> int | None:
    """The pid of a live process of that installation whose argv holds every one of `words`, e.g.
    ("restic", "restore")."""
    for pid, argv in installation_processes(state_dir).items():
        if all(any(word in arg for arg in argv) for word in words):
            return pid
    return None


def started(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A program running in the background, its output captured as text (read it with communicate())."""
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
