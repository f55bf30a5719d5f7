"""Output manners (docs/json.md, "Errors and streams"): a drill's progress bar reaches a person at a
terminal and nobody else; summaries go to stdout, errors to stderr, once."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess

import pytest

pytestmark = pytest.mark.slow


def run_on_a_tty(env, *args: str) -> tuple[int, str, str]:
    """The real CLI with stderr on a pseudo-terminal (as in an interactive shell) and stdout piped:
    (exit code, stdout, everything the terminal received)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(env.drkit_argv(*args), stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                            env=env.env(COLUMNS="120", TERM="xterm"))
    os.close(slave)
    seen = bytearray()
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    stdout = proc.stdout.read().decode()
    proc.wait(timeout=300)
    os.close(master)
    return proc.returncode, stdout, seen.decode(errors="replace")


@pytest.fixture
def drilled(env, source):
    env.write_policy("shop", [source])
    env.drkit("repo", "init", "shop", check=0)
    env.drkit("backup", "shop", check=0)
    return env


def test_a_drill_on_a_terminal_shows_its_phases_and_bytes(drilled):
    code, stdout, terminal = run_on_a_tty(drilled, "restore-drill", "shop")
    assert code == 0, terminal
    assert "restoring shop" in terminal and "verifying shop" in terminal and "checking shop" in terminal
    assert " bytes" in terminal or "kB" in terminal  # rich's DownloadColumn: done/total
    assert "PASS shop" in stdout and "restoring" not in stdout  # the bar never reaches stdout


def test_a_drill_piped_or_with_json_or_quiet_prints_no_progress(drilled):
    piped = drilled.drkit("restore-drill", "shop", check=0)
    assert "PASS shop" in piped.stdout and piped.stderr == ""
    code, stdout, terminal = run_on_a_tty(drilled, "restore-drill", "shop", "--json")
    assert code == 0 and json.loads(stdout)["record"]["result"] == "pass"
    assert "restoring" not in terminal and "verifying" not in terminal
    code, stdout, terminal = run_on_a_tty(drilled, "-q", "restore-drill", "shop")
    assert code == 0 and stdout == "" and "restoring" not in terminal


def test_an_error_is_printed_once_on_stderr(drilled):
    proc = drilled.drkit("restore-drill", "shop", "--snapshot", "deadbeef", check=2)
    assert proc.stdout == "" or "deadbeef" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if "deadbeef" in line]
    assert len(lines) == 1, proc.stderr
