"""What a full drill costs over a bare restore: `drkit restore-drill` (verify: full) against raw
`restic restore --verify` of the same snapshot, and against that plus `sha256sum` of every
restored file (what a person would run to get the drill's proof by hand), in the same run.
Targets (docs/performance.md): drill <= 1.3x restore --verify, <= 0.85x restore --verify + sha256.

Builds incompressible data (default ~200 MB in 2,000 files), backs it up with drkit to a
SeaweedFS it starts (tests/servers.py), then alternates the two measurements so both see the
same machine state. Both use the same restic cache. The drill is timed twice: the whole CLI
process (Python start-up and evidence upload included) and its own recovery time (RTA, from
the request until every check passed).

    python benchmarks/drill_vs_restic.py [--mb 200] [--files 2000] [--runs 3] [--dir DIR]
    (issue 13's figures: --mb 300 --files 63)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from factories import benchmark_env  # noqa: E402

TARGET_RATIO = 1.3
TARGET_WITH_HASH = 0.85


def build_data(root: Path, megabytes: int, files: int) -> None:
    size = megabytes * 1_000_000 // files
    for i in range(files):
        sub = root / f"d{i % 50:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.bin").write_bytes(os.urandom(size))


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    with benchmark_env(args.dir, "drkit-bench-") as (work, env):
        data = work / "data"
        build_data(data, args.mb, args.files)
        env.write_policy("bench", [data], drill={"sandbox": str(work / "drills"), "verify": "full"})
        env.drkit("repo", "init", "bench", check=0)
        backup = json.loads(env.drkit("backup", "bench", "--json", check=0, timeout=1800).stdout)["runs"][0]["record"]
        snapshot = backup["snapshot_id"]
        restic_env = env.env(RESTIC_PASSWORD_FILE=str(env.password_file),
                             RESTIC_REPOSITORY=f"s3:{env.endpoint}/{env.bucket}/bench",
                             RESTIC_CACHE_DIR=str(env.state / "restic-cache"))
        print(f"data: {backup['bytes'] / 1e6:,.1f} MB in {backup['files']:,} files, snapshot {snapshot[:8]}")
        restic_s, with_hash_s, drill_s, rta_s = [], [], [], []
        for run in range(args.runs):
            target = work / "raw-restore"
            shutil.rmtree(target, ignore_errors=True)
            seconds, proc = timed(["restic", "restore", snapshot, "--target", str(target), "--verify"], restic_env, ROOT)
            if proc.returncode != 0:
                raise SystemExit(f"restic restore failed: {proc.stderr[-500:]}")
            restic_s.append(seconds)
            hashed, proc = timed(["sh", "-c", 'find "$0" -type f -print0 | xargs -0 sha256sum >/dev/null', str(target)],
                                 restic_env, ROOT)
            if proc.returncode != 0:
                raise SystemExit(f"sha256sum failed: {proc.stderr[-500:]}")
            with_hash_s.append(seconds + hashed)
            shutil.rmtree(target)
            seconds, proc = timed([sys.executable, "-m", "drkit", "restore-drill", "bench", "--json"], env.env(), ROOT)
            if proc.returncode != 0:
                raise SystemExit(f"drill exited {proc.returncode}: {proc.stdout[-500:]} {proc.stderr[-500:]}")
            record = json.loads(proc.stdout)["record"]
            drill_s.append(seconds)
            rta_s.append(record["measured"]["rta_s"])
            phases = ", ".join(f"{k} {v:.2f}" for k, v in record["phases"].items())
            print(f"run {run + 1}: restic {restic_s[-1]:.2f} s | drill process {seconds:.2f} s, RTA "
                  f"{rta_s[-1]:.2f} s ({phases}; hashed {record['measured']['files_hashed']:,} files)")
        base, with_hash = statistics.median(restic_s), statistics.median(with_hash_s)
        process, rta = statistics.median(drill_s), statistics.median(rta_s)
        print(f"median: restic restore --verify {base:.2f} s (+ sha256sum {with_hash:.2f} s); "
              f"drkit restore-drill {process:.2f} s (RTA {rta:.2f} s)")
        print(f"ratio to restore --verify: {process / base:.2f}x whole process, {rta / base:.2f}x RTA "
              f"(target <= {TARGET_RATIO}x)")
        print(f"ratio to restore --verify + sha256sum: {process / with_hash:.2f}x whole process, "
              f"{rta / with_hash:.2f}x RTA (target <= {TARGET_WITH_HASH}x)")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
