"""The process runner on real programs: output, environment, and no child outliving its run."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from drkit.core import errors
from drkit.engines import process
from drkit.engines.process import ProcessError, ProgramNotFound, child_env, run


def alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's zombie may linger where PID 1 does not reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_gone(pids: list[int], within: float = 5.0) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def pids_from(path: Path, count: int, within: float = 5.0) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().split()) == count:
            return [int(p) for p in path.read_text().split()]
        time.sleep(0.02)
    raise AssertionError(f"{path} never listed {count} pids")


def family(pidfile: Path) -> list[str]:
    """A shell that writes its pid and its background child's pid, then waits on both."""
    return ["sh", "-c", f"sleep 60 & echo $$ $! > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; sleep 60; wait"]


def test_captures_output_and_reports_the_exit_and_last_line():
    done = run([sys.executable, "-c", "import sys; print('out'); print('first\\nlast', file=sys.stderr); sys.exit(3)"],
               timeout=30)
    assert (done.returncode, done.ok, done.stdout, done.status(), done.last_line()) == (3, False, b"out\n",
                                                                                        "exited 3", "last")


def test_stdout_goes_to_a_file_and_cwd_and_env_are_the_childs(tmp_path):
    out = tmp_path / "dump.txt"
    done = run([sys.executable, "-c", "import os; print(os.getcwd(), os.environ['X'], 'RESTIC_PASSWORD' in os.environ)"],
               timeout=30, cwd=tmp_path, env=child_env({"X": "42"}), stdout=out)
    assert done.ok and done.stdout == b""
    assert out.read_text() == f"{tmp_path} 42 False\n"


def test_child_env_drops_restic_secrets(monkeypatch):
    monkeypatch.setenv("RESTIC_PASSWORD", "hunter2")
    monkeypatch.setenv("PGHOST", "db")
    env = child_env({"DRKIT_SANDBOX": "/s"})
    assert "RESTIC_PASSWORD" not in env and env["PGHOST"] == "db" and env["DRKIT_SANDBOX"] == "/s"


def test_missing_program_is_one_clear_error(tmp_path):
    with pytest.raises(ProgramNotFound, match=r"^program 'no-such-program-xyz' not found$"):
        run(["no-such-program-xyz", "--flag"], timeout=5)
    with pytest.raises(ProgramNotFound, match=rf"program './smoke.sh' not found \(cwd {tmp_path}\)"):
        run(["./smoke.sh"], timeout=5, cwd=tmp_path)
    script = tmp_path / "smoke.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(ProcessError, match="is not executable"):
        run(["./smoke.sh"], timeout=5, cwd=tmp_path)
    with pytest.raises(ProcessError, match=f"^true: working directory {tmp_path / 'gone'} does not exist$"):
        run(["true"], timeout=5, cwd=tmp_path / "gone")


def test_a_killed_child_says_so():
    done = run(["sh", "-c", "kill -9 $$"], timeout=10)
    assert done.returncode == -9 and done.status() == "was killed by signal 9"


def test_timeout_kills_the_whole_group(tmp_path):
    pidfile = tmp_path / "pids"
    start = time.monotonic()
    with pytest.raises(ProcessError, match=r"^sh timed out after 1s and was stopped$"):
        run(family(pidfile), timeout=1)
    assert time.monotonic() - start < 10
    assert wait_gone(pids_from(pidfile, 2)) == []


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path):
    pidfile = tmp_path / "pids"
    argv = ["sh", "-c", f"trap '' TERM; sleep 60 & echo $$ $! > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; wait"]
    with pytest.raises(ProcessError, match="timed out"):
        run(argv, timeout=0.5, grace=0.5)
    assert wait_gone(pids_from(pidfile, 2)) == []


@pytest.mark.parametrize("raised", [KeyboardInterrupt, errors.Interrupted])
def test_an_interrupt_leaves_no_child(tmp_path, raised):
    """Ctrl-C (KeyboardInterrupt) and the CLI's SIGTERM handler (Interrupted) both unwind through run."""
    pidfile = tmp_path / "pids"

    def handler(signum, frame):
        raise raised("stopped by signal SIGUSR1") if raised is errors.Interrupted else raised()

    previous = signal.signal(signal.SIGUSR1, handler)
    main = threading.get_ident()

    def interrupt() -> None:
        pids_from(pidfile, 2)
        signal.pthread_kill(main, signal.SIGUSR1)

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        with pytest.raises(raised):
            run(family(pidfile), timeout=60)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert wait_gone(pids_from(pidfile, 2)) == []


def test_terminate_running_stops_children_of_other_threads(tmp_path, monkeypatch):
    monkeypatch.setattr(process, "_refusing", threading.Event())
    pidfile = tmp_path / "pids"
    outcome: list[BaseException] = []

    def worker() -> None:
        try:
            run(family(pidfile), timeout=60)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    pids = pids_from(pidfile, 2)
    process.terminate_running(grace=2, refuse_new=True)
    thread.join(10)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], errors.Interrupted)
    assert wait_gone(pids) == []
    with pytest.raises(errors.Interrupted, match="not started"):
        run(["true"], timeout=5)


def test_a_served_child_stops_with_its_own_signal_and_takes_its_group_along(tmp_path):
    pidfile, log = tmp_path / "pids", tmp_path / "server.log"
    argv = ["sh", "-c", f"trap 'echo clean shutdown; kill $!; exit 0' INT; echo starting; sleep 60 & "
                        f"echo $$ $! > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; wait"]
    server = process.serve(argv, env=child_env(), cwd=tmp_path, log=log, stop_signal=signal.SIGINT, label="toy server")
    pids = pids_from(pidfile, 2)
    assert server.running()
    server.stop(grace=5)
    assert wait_gone(pids) == [] and not server.running()
    assert server.log_tail() == "starting / clean shutdown"


def test_terminate_running_stops_a_served_child_too(tmp_path, monkeypatch):
    monkeypatch.setattr(process, "_refusing", threading.Event())
    pidfile = tmp_path / "pids"
    server = process.serve(family(pidfile), env=child_env(), cwd=tmp_path, log=tmp_path / "log",
                           stop_signal=signal.SIGTERM, label="toy server")
    pids = pids_from(pidfile, 2)
    process.terminate_running(grace=2)
    assert wait_gone(pids) == []
    server.stop()  # afterwards: a no-op, no error


def test_a_served_program_that_is_missing_is_one_clear_error(tmp_path):
    with pytest.raises(ProgramNotFound, match="^program 'no-such-server-xyz' not found$"):
        process.serve(["no-such-server-xyz"], env=child_env(), cwd=tmp_path, log=tmp_path / "log",
                      stop_signal=signal.SIGTERM, label="x")
