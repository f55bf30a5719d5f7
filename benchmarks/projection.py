"""How true is the projected full RTO? Drill a data set, grow it, and compare the report's
projection with the recovery time the next drill really measures (docs/reports.md, "Projected
full RTO"). Target: projected / measured RTA within 0.8..1.2 when the data grows tenfold after a
drill of >= 40 MB.

Builds incompressible data (default 40 MB in 40 files), backs it up with drkit to a SeaweedFS it
starts (tests/servers.py), drills it `--drills` times, adds files until the data is `--factor`
times larger, backs up again, reads the projection from `drkit report --format json`, then drills
the grown data and prints the exact ratio. `--rounds N` repeats grow+drill (from the second round
on, the drills differ enough in size for the least-squares fit).

    python benchmarks/projection.py [--mb 40] [--files 40] [--drills 1] [--factor 10] [--rounds 1] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from factories import Env, benchmark_env  # noqa: E402

TOLERANCE = 0.2


@dataclass(frozen=True)
class Round:
    """One projection checked against the drill that followed it."""

    data_bytes: int
    projection: dict  # the report's rto.projection
    projected_s: float
    measured_s: float

    @property
    def ratio(self) -> float:
        return self.projected_s / self.measured_s


def add_files(root: Path, start: int, count: int, size: int) -> None:
    """Incompressible files: restic can neither compress nor deduplicate them away."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        (root / f"f{i:05d}.bin").write_bytes(os.urandom(size))


def drill(env: Env, name: str) -> dict:
    record = json.loads(env.drkit("restore-drill", name, "--json", check=0, timeout=1800).stdout)["record"]
    m = record["measured"]
    phases = ", ".join(f"{k} {v:.2f}" for k, v in record["phases"].items())
    print(f"drill {m['bytes_restored'] / 1e6:,.1f} MB: RTA {m['rta_s']:.2f} s ({phases}; first byte after "
          f"{m['restore_first_byte_s']:.2f} s)")
    return record


def projection(env: Env, name: str) -> dict:
    proc = env.drkit("report", "--policy", name, "--format", "json", check=0)
    return json.loads(proc.stdout)["policies"][0]["rto"]


def grow_and_drill(env: Env, data: Path, count: int, grown: int, size: int) -> Round:
    add_files(data, count, grown - count, size)
    backup = json.loads(env.drkit("backup", "bench", "--json", check=0, timeout=1800).stdout)["runs"][0]["record"]
    rto = projection(env, "bench")
    record = drill(env, "bench")
    return Round(backup["bytes"], rto["projection"], rto["projected_full_rto_s"], record["measured"]["rta_s"])


def measure(work: Path, env: Env, args: argparse.Namespace) -> list[Round]:
    data = work / "data"
    size = args.mb * 1_000_000 // args.files
    add_files(data, 0, args.files, size)
    env.write_policy("bench", [data], drill={"sandbox": str(work / "drills"), "verify": "full"})
    env.drkit("repo", "init", "bench", check=0)
    env.drkit("backup", "bench", check=0, timeout=1800)
    for _ in range(args.drills):
        drill(env, "bench")
    count, results = args.files, []
    for _ in range(args.rounds):
        grown = round(count * args.factor)
        results.append(grow_and_drill(env, data, count, grown, size))
        count = grown
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=40, help="size of the first drilled data set")
    parser.add_argument("--files", type=int, default=40, help="files of the first data set")
    parser.add_argument("--drills", type=int, default=1, help="drills of the first data set")
    parser.add_argument("--factor", type=float, default=10.0, help="growth before each projected drill")
    parser.add_argument("--rounds", type=int, default=1, help="grow + drill this many times")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    with benchmark_env(args.dir, "drkit-projection-") as (work, env):
        results = measure(work, env, args)
    worst = 0.0
    for r in results:
        p = r.projection
        print(f"{r.data_bytes / 1e6:,.1f} MB: projected {r.projected_s:.2f} s (range {p['low_s']:.2f} to "
              f"{p['high_s']:.2f} s; {p['basis']}), measured RTA {r.measured_s:.2f} s, ratio {r.ratio:.3f}")
        worst = max(worst, abs(r.ratio - 1))
    verdict = "within" if worst <= TOLERANCE else "OUTSIDE"
    print(f"worst error {worst * 100:.1f}% ({verdict} the {TOLERANCE * 100:.0f}% target)")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    raise SystemExit(main())
