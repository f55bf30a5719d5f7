"""How `drkit report` scales with history (docs/reports.md, "Scale"; docs/performance.md, "Reports").

Fills a catalog with 100 policies x 3,650 daily snapshots (each with a signed backup record)
plus 1,000 signed drill records, then times the real CLI in a child process and reads its peak
RSS: `--format json` (targets: under 0.5 s, under 150 MB) and `--format html` (under 3 s).

    python benchmarks/report_scale.py [--dir DIR] [--runs N] [--policies N] [--days N] [--format json|html|both]

DIR keeps the filled catalog between runs (filling takes a minute or two: every record is
signed with a real Ed25519 key, as drkit signs them).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from drkit.engines.catalog import Catalog, SnapshotRow
from drkit.evidence.records import Record, SigningKey

TIME_TARGETS_S = {"json": 0.5, "html": 3.0}
RSS_TARGET_MB = 150


def policy_yaml(name: str, root: Path) -> str:
    return json.dumps({
        "version": 1, "name": name, "business": {"tier": 2, "owner": "Bench <bench@example.com>"},
        "objectives": {"rpo": "25h", "rto": "4h"}, "targets": [{"path": "/srv/data"}],
        "schedule": {"backup": "every day at 02:00", "drill": "every sunday at 04:00"},
        "repository": {"url": f"s3:http://127.0.0.1:9/bench/{name}", "password_file": str(root / "password")},
    })  # JSON is YAML


def fill(root: Path, policies: int, days: int, drills: int) -> None:
    state, pdir = root / "state", root / "policies"
    pdir.mkdir(parents=True, exist_ok=True)
    (root / "password").write_text("bench\n")
    catalog = Catalog(state / "catalog.sqlite")
    key = SigningKey.load_or_create(state / "keys" / "evidence-ed25519.pem")
    end = datetime.now(timezone.utc).replace(hour=2, minute=0, second=0, microsecond=0)
    started = time.monotonic()
    for p in range(policies):
        name = f"p-{p:03d}"
        (pdir / f"{name}.yaml").write_text(policy_yaml(name, root))
        rows = []
        catalog.db.execute("begin")
        for d in range(days):
            capture = end - timedelta(days=days - 1 - d)
            sid = f"{p:08x}{d:056x}"
            rows.append(SnapshotRow(name, sid, capture, "bench", ["drkit"]))
            record = Record(kind="backup", policy=name, host="bench", started_at=capture,
                            finished_at=capture + timedelta(minutes=20), result="pass", snapshot_id=sid,
                            snapshot_time=capture, bytes=10**9 + d * 10**6, files=1000,
                            phases={"backup": 1200.0}, measured={"data_added": 10**6})
            catalog.add_record(key.sign(record), uploaded=True)
        for k in range(drills // policies):
            start = end - timedelta(days=7 * k, hours=-2)
            record = Record(kind="drill", policy=name, host="bench", started_at=start,
                            finished_at=start + timedelta(minutes=50), result="pass", snapshot_id=f"{p:08x}{0:056x}",
                            snapshot_time=start - timedelta(hours=2), bytes=10**9,
                            measured={"restore_verify_s": 2400.0, "bytes_restored": 10**9})
            catalog.add_record(key.sign(record), uploaded=True)
        catalog.db.execute("commit")
        catalog.replace_snapshots(name, rows)
        print(f"\rfilled {p + 1}/{policies} policies ({time.monotonic() - started:.0f} s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    catalog.close()


def run_report(root: Path, fmt: str = "json") -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MB, policies in the output) of one `drkit report --format FMT`.

    CPU time is reported too: wall time on a shared machine includes waiting for other processes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRKIT_", "AWS_", "RESTIC_"))}
    env.update(DRKIT_STATE_DIR=str(root / "state"), DRKIT_POLICIES=str(root / "policies"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "drkit", "report", "--format", fmt], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"drkit report failed ({proc.returncode}): {proc.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss is the peak of the largest child so far; every run is the same command, so the
    # maximum over all runs is the peak of one report
    policies = len(json.loads(proc.stdout)["policies"]) if fmt == "json" else proc.stdout.count('class="policy"')
    return wall, cpu, after.ru_maxrss / 1024, policies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="keep the filled catalog here (reused when present)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--policies", type=int, default=100)
    parser.add_argument("--days", type=int, default=3650)
    parser.add_argument("--drills", type=int, default=1000)
    parser.add_argument("--format", choices=("json", "html", "both"), default="both")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="drkit-bench-"))
    if not (root / "state" / "catalog.sqlite").exists():
        fill(root, args.policies, args.days, args.drills)
    size = (root / "state" / "catalog.sqlite").stat().st_size / 1e6
    print(f"catalog: {args.policies} policies x {args.days} snapshots + {args.drills} drills, {size:.0f} MB")
    formats = ["json", "html"] if args.format == "both" else [args.format]
    ok = all([measure(root, fmt, args.runs) for fmt in formats])
    sys.exit(0 if ok else 1)


def measure(root: Path, fmt: str, runs: int) -> bool:
    """Time `runs` reports of one format and print the figures."""
    results = [run_report(root, fmt) for _ in range(runs)]
    walls = [w for w, _, _, _ in results]
    cpus = [c for _, c, _, _ in results]
    rss = max(r for _, _, r, _ in results)
    print(f"drkit report --format {fmt}: median {statistics.median(walls):.3f} s, best {min(walls):.3f} s, "
          f"worst {max(walls):.3f} s over {len(walls)} runs; CPU median {statistics.median(cpus):.3f} s; "
          f"peak RSS {rss:.0f} MB; {results[0][3]} policies")
    target = TIME_TARGETS_S[fmt]
    ok = statistics.median(walls) < target and rss < RSS_TARGET_MB
    print(f"targets (< {target:g} s, < {RSS_TARGET_MB} MB): {'met' if ok else 'MISSED'}")
    return ok


if __name__ == "__main__":
    main()
