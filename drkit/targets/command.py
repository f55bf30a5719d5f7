"""Output of a command (e.g. mysqldump), captured into the staging directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

from drkit.core.errors import SourceMissing
from drkit.core.policy import CommandTarget


def staged_path(target: CommandTarget, staging: Path) -> Path:
    return staging / "command" / target.command.filename


def dump(target: CommandTarget, staging: Path) -> Path:
    out = staged_path(target, staging)
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = target.command.run
    try:
        with open(out, "wb") as handle:
            proc = subprocess.run(argv, stdout=handle, stderr=subprocess.PIPE,
                                  timeout=target.command.timeout.total_seconds())
    except FileNotFoundError:
        raise SourceMissing(f"command target {target.command.filename}: program {argv[0]!r} not found") from None
    except subprocess.TimeoutExpired:
        raise SourceMissing(f"command target {target.command.filename}: timed out") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise SourceMissing(f"command target {target.command.filename}: {argv[0]} exited {proc.returncode}: {tail[0]}")
    return out
