"""The real daemon (`python -m drkit scheduler run` as a child process) against real restic and a real
S3 server: schedules, catch-up, locks, SIGTERM, SIGHUP, notifications, plan and installed units."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from factories import Env, installed
from receivers import HttpReceiver, closed_port

pytestmark = pytest.mark.slow

JOB_LINE_FIELDS = {"ts", "policy", "job", "event", "status", "duration_s", "snapshot"}


class Daemon:
    """`drkit scheduler run --log-format json` as a child process; its log lines, parsed, as they come."""

    def __init__(self, env: Env, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "drkit", "scheduler", "run", "--log-format", "json", *args],
                                     env=env.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[dict] = []
        self.stderr = ""
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))  # every stdout line must be JSON

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr += line

    @property
    def pid(self) -> int:
        return self.proc.pid

    def jobs(self, event: str | None = None, policy: str | None = None) -> list[dict]:
        return [l for l in self.lines if l.get("job") and (event is None or l["event"] == event)
                and (policy is None or l["policy"] == policy)]

    def wait_for(self, predicate, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((l for l in list(self.lines) if predicate(l)), None)
            if found is not None:
                return found
            assert self.proc.poll() is None, f"daemon exited {self.proc.returncode} waiting for {what}\n{self.stderr}"
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout}s; log: {self.lines}\n{self.stderr}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def restic_children(pid: int, word: str) -> list[int]:
    """restic processes started by `pid` whose command line contains `word`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and cmdline and cmdline[0].endswith(b"restic") and word.encode() in cmdline:
            found.append(int(entry.name))
    return found


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def snapshot_ids(env: Env, name: str) -> list[str]:
    return [s["id"] for s in json.loads(env.restic(name, "snapshots", "--json").stdout)]


def status_of(env: Env, name: str) -> dict:
    rows = json.loads(env.drkit("status", "--json").stdout)["policies"]
    return next(r for r in rows if r["policy"] == name)


def lock_is_free(env: Env, name: str) -> bool:
    fd = os.open(env.state / "locks" / f"{name}.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_every_5_seconds_makes_a_snapshot_every_5_seconds(env: Env, source: Path) -> None:
    env.write_policy("often", [source], schedule={"backup": "every 5 seconds"})
    env.drkit("repo", "init", "often", check=0)
    daemon = Daemon(env)
    try:
        daemon.wait_for(lambda l: l["event"] == "end" and l.get("job") == "backup", 30, "first backup")
        plan = json.loads(env.drkit("scheduler", "plan", "--json", "--days", "0.001", check=0).stdout)
        daemon.wait_for(lambda l: len(daemon.jobs("end")) >= 5, 60, "four scheduled backups after the catch-up")
    finally:
        rc = daemon.stop()
    assert rc == 0, daemon.stderr
    ends = daemon.jobs("end")
    assert len(ends) >= 5 and {e["status"] for e in ends} == {"ok"}, ends
    # the daemon's own clock: scheduled runs start 5 s apart, never sooner (a backup takes well under
    # 5 s; on a loaded machine one may start late, so the median, not every gap, has an upper bound)
    starts = [utc(l["ts"]) for l in daemon.jobs("start") if l["reason"] == "schedule"]
    gaps = sorted((b - a).total_seconds() for a, b in zip(starts, starts[1:]))
    assert len(gaps) >= 3 and gaps[0] >= 4.5 and gaps[len(gaps) // 2] <= 5.5, gaps
    assert all(JOB_LINE_FIELDS <= set(line) for line in daemon.jobs())
    assert daemon.jobs("start")[0]["reason"] == "catch-up"
    made = snapshot_ids(env, "often")
    assert len(made) >= 4
    assert {e["snapshot"] for e in ends} <= {s[:8] for s in made}   # the log names real snapshots
    assert status_of(env, "often")["last_run_result"] == "pass"
    # plan, asked while the daemon ran, showed the daemon's own next run and a 5 s grid
    assert plan["schema"] == "drkit.scheduler-plan/1" and plan["source"] == "running scheduler"
    [job] = plan["jobs"]
    runs = [utc(t) for t in job["runs"]]
    assert timedelta(0) < runs[0] - utc(plan["generated_at"]) <= timedelta(seconds=5)
    assert {b - a for a, b in zip(runs, runs[1:])} == {timedelta(seconds=5)}


def test_sigterm_during_a_backup_interrupts_it_cleanly_and_a_manual_backup_meanwhile_exits_5(
        env: Env, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for i in range(40):  # 320 MB of random data: restic needs several seconds for it
        (big / f"blob{i:02d}").write_bytes(os.urandom(8 << 20))
    env.write_policy("big", [big], schedule={"backup": "every day at 01:30"})
    env.drkit("repo", "init", "big", check=0)
    daemon = Daemon(env, "--grace", "1")
    try:
        daemon.wait_for(lambda l: l["event"] == "start" and l.get("job") == "backup", 30, "catch-up backup start")
        deadline = time.monotonic() + 30
        while not restic_children(daemon.pid, "backup") and time.monotonic() < deadline:
            time.sleep(0.05)
        [restic_pid] = restic_children(daemon.pid, "backup")

        manual = env.drkit("backup", "big", check=5)
        match = re.search(r"big: already running \(backup, pid (\d+) since \d{4}-\d\d-\d\dT[\d:]+Z\)", manual.stderr)
        assert match and int(match.group(1)) == daemon.pid, manual.stderr
        assert restic_children(daemon.pid, "backup") == [restic_pid], "the backup ended before SIGTERM; need more data"

        stopped = time.monotonic()
        rc = daemon.stop(signal.SIGTERM, timeout=60)
        took = time.monotonic() - stopped
    finally:
        daemon.kill()
    assert rc == 0, daemon.stderr
    assert took < 1 + 15, f"stopping took {took:.1f}s"
    assert not Path(f"/proc/{restic_pid}").exists()
    [end] = daemon.jobs("end")
    assert end["status"] == "interrupted" and end["snapshot"] is None
    assert env.restic("big", "list", "locks", "--no-lock").stdout.strip() == ""   # restic removed its lock
    assert snapshot_ids(env, "big") == []
    assert status_of(env, "big")["last_run_result"] == "interrupted"
    assert status_of(env, "big")["last_backup_at"] is None                      # no "last run" stamped
    assert lock_is_free(env, "big")

    # Ctrl-C on a manual backup: the terminal signals drkit (restic runs in its own session), and
    # drkit stops restic with SIGINT so that restic, too, removes its lock
    manual = subprocess.Popen([sys.executable, "-m", "drkit", "backup", "big"], env=env.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not restic_children(manual.pid, "backup") and time.monotonic() < deadline:
        time.sleep(0.05)
    [restic_pid] = restic_children(manual.pid, "backup")
    time.sleep(2.5)   # past opening the repository: restic holds its lock now
    assert manual.poll() is None
    manual.send_signal(signal.SIGINT)
    _, stderr = manual.communicate(timeout=30)
    assert manual.returncode != 0 and "Traceback" not in stderr, stderr
    assert not Path(f"/proc/{restic_pid}").exists()
    assert env.restic("big", "list", "locks", "--no-lock").stdout.strip() == ""
    assert lock_is_free(env, "big")


def test_once_catches_up_what_is_due_then_nothing_and_the_exit_code_is_the_worst(env: Env, source: Path) -> None:
    env.write_policy("good", [source], schedule={"backup": "every day at 01:30", "check": "every saturday at 05:00",
                                                "forget": "every day at 03:00"}, retention={"keep_last": 3})
    env.write_policy("broken", [source.parent / "missing"], schedule={"backup": "every day at 01:30"})
    for name in ("good", "broken"):
        env.drkit("repo", "init", name, check=0)

    first = env.drkit("scheduler", "run", "--once", "--max-parallel", "2", check=1)
    lines = [l for l in first.stdout.splitlines()]
    assert any("good backup start (catch-up)" in l for l in lines)
    assert any("good check start (catch-up)" in l for l in lines)
    assert any(re.search(r"good backup end status=ok duration_s=[\d.]+ snapshot=[0-9a-f]{8}", l) for l in lines)
    assert any(re.search(r"good check end status=ok", l) for l in lines)
    good = [re.search(r"good (\w+) (start|end)", l).groups() for l in lines if " good " in l]
    assert good == [("backup", "start"), ("backup", "end"), ("forget", "start"), ("forget", "end"),
                    ("check", "start"), ("check", "end")]   # fresh data first, retention, then the check
    assert any(re.search(r"broken backup end status=failed .*message=", l) for l in lines), first.stdout
    assert len(snapshot_ids(env, "good")) == 1
    broken = status_of(env, "broken")
    assert broken["last_run_result"] == "error" and broken["last_backup_at"] is None

    again = env.drkit("scheduler", "run", "--once", check=0)
    assert "0 to catch up" in again.stdout and " start (" not in again.stdout, again.stdout
    assert len(snapshot_ids(env, "good")) == 1


def test_scheduled_drills_run_after_the_backup_and_a_failing_drill_sets_the_exit_code(env: Env, source: Path) -> None:
    schedule = {"backup": "every day at 01:30", "drill": "every sunday at 04:00"}
    env.write_policy("drilled", [source], schedule=schedule)
    env.write_policy("baddrill", [source], schedule=schedule,
                     drill={"sandbox": str(env.root / "drills"), "checks": [{"command": ["false"]}]})
    for name in ("drilled", "baddrill"):
        env.drkit("repo", "init", name, check=0)
    run = env.drkit("scheduler", "run", "--once", "--max-parallel", "2", "--log-format", "json", check=4)
    ends = [(l["policy"], l["job"], l["status"]) for l in map(json.loads, run.stdout.splitlines())
            if l["event"] == "end"]
    assert sorted(ends) == [("baddrill", "backup", "ok"), ("baddrill", "drill", "failed"),
                            ("drilled", "backup", "ok"), ("drilled", "drill", "ok")]
    assert ends.index(("drilled", "backup", "ok")) < ends.index(("drilled", "drill", "ok"))


def test_notifications_reach_a_real_server_and_a_dead_one_does_not_fail_the_job(env: Env, source: Path) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/hook-token"
    with HttpReceiver() as hook, HttpReceiver() as hc:
        notify = [{"webhook": hook.url + "/hook", "on": ["start", "success", "failure", "breach"]},
                  {"healthcheck": hc.url + "/ping/abc"}, {"webhook": dead, "on": ["success", "failure"]}]
        env.write_policy("loud", [source], schedule={"backup": "every day at 01:30"}, notify=notify)
        env.write_policy("loudfail", [source.parent / "missing"], schedule={"backup": "every day at 01:30"},
                         notify=notify)
        for name in ("loud", "loudfail"):
            env.drkit("repo", "init", name, check=0)
        run = env.drkit("scheduler", "run", "--once", "--log-format", "json", check=1)
        ends = {l["policy"]: l["status"] for l in map(json.loads, run.stdout.splitlines()) if l["event"] == "end"}
        assert ends == {"loud": "ok", "loudfail": "failed"}   # the dead URL did not fail "loud"
        bodies = [json.loads(r.body) for r in hook.wait_for(4)]
        assert sorted((b["policy"], b["event"], b["status"]) for b in bodies) == [
            ("loud", "start", "running"), ("loud", "success", "ok"),
            ("loudfail", "failure", "failed"), ("loudfail", "start", "running")]
        success = next(b for b in bodies if b["event"] == "success")
        assert len(success["evidence_digest"]) == 64 and len(success["snapshot_id"]) == 64
        assert sorted(hc.paths()) == sorted(["/ping/abc/start", "/ping/abc", "/ping/abc/start", "/ping/abc/fail"])
        assert "notification to webhook http://127.0.0.1:" in run.stderr and "hook-token" not in run.stderr

        # cron mode: `drkit backup` by hand (or by cron) notifies the same way
        hook.requests.clear()
        env.drkit("backup", "loud", check=0)
        assert [json.loads(r.body)["event"] for r in hook.wait_for(2)] == ["start", "success"]


def test_sighup_reloads_policies_and_keeps_the_old_set_when_the_new_one_is_invalid(env: Env, source: Path) -> None:
    env.write_policy("first", [source], schedule={"backup": "every day at 01:30"})
    env.drkit("repo", "init", "first", check=0)
    daemon = Daemon(env)
    try:
        daemon.wait_for(lambda l: l["event"] == "end" and l.get("policy") == "first", 30, "first's catch-up")
        bad = env.policies / "second.yaml"
        env.write_policy("second", [source], schedule={"backup": "every day at 01:30"})
        bad.write_text(bad.read_text().replace("schedule:", "schedul:"))
        daemon.proc.send_signal(signal.SIGHUP)
        failed = daemon.wait_for(lambda l: l["event"] == "reload", 10, "reload line")
        assert failed["status"] == "failed"
        assert "kept the previous 1 policy" in failed["message"] and f"{bad}:" in failed["message"]
        assert "unknown key 'schedul'" in failed["message"]

        env.write_policy("second", [source], schedule={"backup": "every day at 01:30"})
        env.drkit("repo", "init", "second", check=0)
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(lambda l: l["event"] == "reload" and l["status"] == "ok", 10, "successful reload")
        daemon.wait_for(lambda l: l["event"] == "end" and l.get("policy") == "second", 30, "second's catch-up")
        assert daemon.proc.poll() is None
    finally:
        rc = daemon.stop()
    assert rc == 0
    assert [l["status"] for l in daemon.jobs("end")] == ["ok", "ok"]


def test_a_second_scheduler_on_the_same_state_directory_exits_5(env: Env, source: Path) -> None:
    env.write_policy("solo", [source])   # nothing scheduled: the daemon idles
    daemon = Daemon(env)
    try:
        daemon.wait_for(lambda l: l["event"] == "start" and l.get("job") is None, 20, "daemon start")
        second = env.drkit("scheduler", "run", "--once", check=5)
        assert f"already running (scheduler, pid {daemon.pid} since" in second.stderr
    finally:
        assert daemon.stop() == 0


def test_install_systemd_units_that_systemd_accepts(env: Env, source: Path, tmp_path: Path) -> None:
    env.write_policy("shop-db", [source], schedule={"backup": "every day at 01:30", "drill": "every sunday at 04:00",
                                                   "check": "every saturday at 05:00"})
    env.write_policy("often", [source], schedule={"backup": "every 5 seconds", "forget": "every 3 days"},
                     retention={"keep_last": 5})
    out = tmp_path / "units"
    proc = env.drkit("scheduler", "install", "--systemd", "-o", str(out), check=0)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["drkit.service", "drkit-notify@.service"] + [f"drkit-shop-db-{j}.{k}" for j in ("backup", "check", "drill")
                                                for k in ("service", "timer")]
                           + [f"drkit-often-{j}.{k}" for j in ("backup", "forget") for k in ("service", "timer")])
    assert f"wrote {out / 'drkit.service'}" in proc.stdout
    service = (out / "drkit-shop-db-backup.service").read_text()
    assert f"--policies {env.policies} --state-dir {env.state} backup shop-db" in service
    if installed("systemd-analyze", "systemd"):
        verify = subprocess.run(["systemd-analyze", "verify", *map(str, sorted(out.iterdir()))],
                                capture_output=True, text=True, timeout=60)
        assert verify.returncode == 0 and str(out) not in verify.stdout + verify.stderr, verify.stderr
        for timer in out.glob("*.timer"):
            for line in timer.read_text().splitlines():
                if line.startswith("OnCalendar="):
                    cal = subprocess.run(["systemd-analyze", "calendar", line.split("=", 1)[1]],
                                         capture_output=True, text=True, timeout=30)
                    assert cal.returncode == 0, cal.stderr

    cron = env.drkit("scheduler", "install", "--cron", check=2)
    assert "cron cannot express: often backup 'every 5 seconds', often forget 'every 3 days'" in cron.stderr
    (env.policies / "often.yaml").unlink()
    crontab = env.drkit("scheduler", "install", "--cron", check=0).stdout
    assert f"30 1 * * * {sys.executable} -m drkit --policies {env.policies} --state-dir {env.state} -q backup shop-db" \
        in crontab.splitlines()


def test_policy_validate_warns_when_the_backup_interval_cannot_meet_the_rpo(env: Env, source: Path) -> None:
    env.write_policy("slow", [source], schedule={"backup": "every day at 01:30"}, objectives={"rpo": "12h", "rto": "4h"})
    env.write_policy("fine", [source], schedule={"backup": "every hour"}, objectives={"rpo": "12h", "rto": "4h"})
    warned = env.drkit("policy", "validate", check=0)
    assert f"warning: {env.policies / 'slow.yaml'}: schedule.backup 'every day at 01:30' CANNOT meet RPO 12h" \
        in warned.stderr
    assert "fine.yaml" not in warned.stderr
    strict = env.drkit("policy", "validate", "--strict", check=2)
    assert f"error: {env.policies / 'slow.yaml'}" in strict.stderr
    assert not env.state.exists()   # validating did not create state


def test_quiet_job_commands_print_nothing_on_success_and_only_the_failure_on_stderr(env: Env, source: Path) -> None:
    env.write_policy("web", [source])
    env.drkit("repo", "init", "web", check=0)
    textfile = env.root / "metrics" / "drkit.prom"
    done = env.drkit("-q", "backup", "web", check=0, env=env.env(DRKIT_PROMETHEUS_TEXTFILE=str(textfile)))
    assert (done.stdout, done.stderr) == ("", "")                  # cron sends no mail
    assert 'drkit_runs_total{policy="web",job="backup",result="pass"} 1' in textfile.read_text()
    assert env.drkit("-q", "snapshots", "web", check=0).stdout == ""
    header, row = env.drkit("snapshots", "web", check=0).stdout.splitlines()   # piped: full ids and paths
    snapshot_id = env.restic("web", "snapshots", "--json").stdout.split('"id":"')[1][:64]
    assert header.split("\t")[0] == "id" and row.split("\t")[0] == snapshot_id and str(source) in row.split("\t")[4]
    env.write_policy("web", [source / "gone"])
    failed = env.drkit("-q", "backup", "web")
    assert failed.returncode != 0 and failed.stdout == ""
    assert failed.stderr.count("web") >= 1 and "Traceback" not in failed.stderr


def test_the_daemon_refreshes_the_prometheus_textfile_after_each_run(env: Env, source: Path) -> None:
    env.write_policy("web", [source], schedule={"backup": "every hour"})
    env.drkit("repo", "init", "web", check=0)
    textfile = env.root / "drkit.prom"
    env.drkit("scheduler", "run", "--once", "--prometheus", str(textfile), check=0)
    text = textfile.read_text()
    assert 'drkit_last_run_success{policy="web",job="backup"} 1' in text and "drkit_exposure_seconds" in text
