"""A drkit process that stays up, as `drkit scheduler run` does: it imports drkit once, then runs
each backup it is asked for in-process through the daemon's own entry (`run_job`), so Python's
start-up and imports are paid once, not per backup (docs/performance.md, "Benchmarks").

    python benchmarks/warm_backup.py STATE_DIR POLICIES_DIR   # then one policy name per stdin line

Prints one JSON line per request: {"policy", "status", "seconds"}. benchmarks/harness.py drives it
beside raw restic to give the backup ratios a scheduled backup sees.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import drkit.jobs.backup  # noqa: F401 - registers the backup job, as the daemon's imports do
from drkit.core.policy import load_policy_file
from drkit.jobs.lifecycle import run_job


def main() -> None:
    state, policies = Path(sys.argv[1]), Path(sys.argv[2])
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        policy_file = policies / f"{name}.yaml"
        policy = load_policy_file(policy_file)  # the daemon holds its policies loaded: not timed
        started = time.perf_counter()
        outcome = run_job(state, policy, "backup", policy_file)
        took = time.perf_counter() - started
        print(json.dumps({"policy": name, "status": str(outcome.status), "seconds": took}), flush=True)


if __name__ == "__main__":
    main()
