"""What an idle `drkit scheduler run` costs: CPU % and RSS with 20 policies (80 scheduled jobs).

Writes N policies (backup, forget, check, drill each), records one signed evidence record per job
in the catalog so nothing is due for catch-up, starts the real daemon as a child process and
samples /proc/<pid> for the measuring window. Targets: < 1 % of one CPU and < 80 MB RSS.

    python benchmarks/idle_daemon.py [--policies 20] [--seconds 60] [--warm] [--json]

--warm first lets the daemon run one real backup (restic, local repository), so the window
measures a daemon that has loaded everything a job needs (restic adapter, boto3, manifests), as
a long-running one has. The window must stay idle: the benchmark fails if a job starts in it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from drkit.core.policy import load_policy_file
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record, now_utc

CPU_TARGET_PCT = 1.0
RSS_TARGET_MB = 80.0
SCHEDULES = [  # a realistic mix; every phrase's next run is minutes to days away
    {"backup": "every day at 01:30", "forget": "every day at 03:00", "check": "every saturday at 05:00",
     "drill": "every sunday at 04:00"},
    {"backup": "every 15 minutes", "forget": "every 6 hours", "check": "every day at 05:00",
     "drill": "every monday at 06:00"},
    {"backup": "every hour at :20", "forget": "every day at 02:00", "check": "every 3 days",
     "drill": "every 2 weeks"},
]


def write_policies(root: Path, count: int) -> Path:
    policies = root / "policies"
    policies.mkdir(parents=True)
    (root / "password").write_text("benchmark\n")
    for i in range(count):
        name = f"bench-{i:02d}"
        (policies / f"{name}.yaml").write_text(json.dumps({  # JSON is YAML
            "version": 1, "name": name, "objectives": {"rpo": "25h", "rto": "4h"},
            "targets": [{"path": str(root / "data" / name)}], "schedule": SCHEDULES[i % len(SCHEDULES)],
            "retention": {"keep_daily": 7}, "drill": {"sandbox": str(root / "drills")},
            "repository": {"url": str(root / "repos" / name), "password_file": str(root / "password")},
        }))
    return policies


def record_recent_runs(policies: Path, state: Path, warm: bool) -> None:
    """One evidence record per job, a minute old: the daemon finds nothing to catch up (with
    --warm, except the first policy's backup, which runs for real)."""
    ws = Workspace(state)
    started = now_utc() - timedelta(minutes=1)
    for i, file in enumerate(sorted(policies.iterdir())):
        policy = load_policy_file(file)
        for kind in ("backup", "forget", "check", "drill"):
            if warm and i == 0 and kind == "backup":
                continue
            ws.record(policy, Record(kind=kind, policy=policy.name, started_at=started,
                                     finished_at=started + timedelta(seconds=5), result="pass"))
    ws.catalog.close()


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread, in nanoseconds from schedstat (utime/stime tick only every 10 ms)."""
    try:
        return sum(int((task / "schedstat").read_text().split()[0])
                   for task in Path(f"/proc/{pid}/task").iterdir()) / 1e9
    except (OSError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def prepare_warm_backup(root: Path) -> None:
    """Source data and an initialized local repository for the first policy's real backup."""
    data = root / "data" / "bench-00"
    data.mkdir(parents=True)
    for i in range(50):
        (data / f"file{i}").write_bytes(os.urandom(64 << 10))
    env = {**os.environ, "RESTIC_PASSWORD_FILE": str(root / "password")}
    subprocess.run(["restic", "init", "-q", "-r", str(root / "repos" / "bench-00")], env=env, check=True)


def measure(count: int, seconds: float, warm: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="drkit-idle-") as tmp:
        root = Path(tmp)
        policies = write_policies(root, count)
        state = root / "state"
        record_recent_runs(policies, state, warm)
        if warm:
            prepare_warm_backup(root)
        env = {**os.environ, "DRKIT_POLICIES": str(policies), "DRKIT_STATE_DIR": str(state)}
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "drkit", "scheduler", "run", "--log-format", "json"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[dict] = []
        ready = threading.Event()

        def read() -> None:
            for line in proc.stdout:
                lines.append(json.loads(line))
                ready.set()

        threading.Thread(target=read, daemon=True).start()
        try:
            if not ready.wait(60):
                raise SystemExit(f"daemon did not start: {proc.stderr.read() if proc.poll() is not None else ''}")
            start_up_s = time.monotonic() - started
            if warm:
                deadline = time.monotonic() + 120
                while not any(l.get("event") == "end" for l in lines) and time.monotonic() < deadline:
                    time.sleep(0.1)
                warm_up = [l for l in lines if l.get("event") == "end"]
                if not warm_up or warm_up[0]["status"] != "ok":
                    raise SystemExit(f"the warm-up backup did not succeed: {warm_up}")
                time.sleep(1)
            cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
            peak = rss_mb(proc.pid)
            while time.monotonic() - wall0 < seconds:
                time.sleep(1)
                peak = max(peak, rss_mb(proc.pid))
            cpu1, wall1 = cpu_seconds(proc.pid), time.monotonic()
            hwm = rss_mb(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            rc = proc.wait(30)
    jobs_run = [l for l in lines if l.get("job")][2 if warm else 0:]
    if jobs_run:
        raise SystemExit(f"the window was not idle, the daemon ran: {jobs_run[:3]}")
    cpu_pct = (cpu1 - cpu0) / (wall1 - wall0) * 100
    return {"policies": count, "jobs": count * 4, "warm": warm, "seconds": round(wall1 - wall0, 1),
            "start_up_s": round(start_up_s, 2), "cpu_pct": round(cpu_pct, 3), "rss_mb": round(peak, 1),
            "rss_hwm_mb": round(hwm, 1), "exit_code_after_sigterm": rc,
            "ok": cpu_pct < CPU_TARGET_PCT and peak < RSS_TARGET_MB and rc == 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warm", action="store_true", help="measure after one real backup ran")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.policies, args.seconds, args.warm)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"idle daemon{' after a backup' if args.warm else ''}, {result['policies']} policies / "
              f"{result['jobs']} jobs, {result['seconds']}s window "
              f"(start-up {result['start_up_s']}s):")
        print(f"  CPU {result['cpu_pct']:.3f} % of one core   (target < {CPU_TARGET_PCT} %)")
        print(f"  RSS {result['rss_mb']:.1f} MB, high-water {result['rss_hwm_mb']:.1f} MB   "
              f"(target < {RSS_TARGET_MB:.0f} MB)")
        print(f"  exit after SIGTERM: {result['exit_code_after_sigterm']}")
        print("  OK" if result["ok"] else "  TARGET MISSED")
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
