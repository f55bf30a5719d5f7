"""Targets turn a policy's `targets:` into files restic backs up.

Paths are backed up in place (absolute paths, so a restore recreates them under the sandbox).
Databases and command output are first written into the policy's staging directory, which is
backed up in the same snapshot: one run = one snapshot = one recovery point.
"""

from __future__ import annotations

from pathlib import Path

from drkit.core.policy import CommandTarget, PathTarget, Policy, PostgresTarget, SqliteTarget
from drkit.targets import command, path, postgres, sqlite


def check_sources(policy: Policy) -> None:
    """Fail before restic starts: restic exits 0 on a missing path among valid ones."""
    for target in policy.targets:
        if isinstance(target, PathTarget):
            path.check(target)
        elif isinstance(target, SqliteTarget):
            sqlite.check(target)


def prepare(policy: Policy, staging: Path) -> list[Path]:
    """Write dumps into `staging` (emptied first); return every path restic must back up."""
    paths: list[Path] = []
    staged = False
    for target in policy.targets:
        if isinstance(target, PathTarget):
            paths.append(target.path)
        elif isinstance(target, SqliteTarget):
            sqlite.dump(target, staging)
            staged = True
        elif isinstance(target, PostgresTarget):
            postgres.dump(target, staging)
            staged = True
        elif isinstance(target, CommandTarget):
            command.dump(target, staging)
            staged = True
    return paths + ([staging] if staged else [])


def excludes(policy: Policy) -> list[str]:
    return [pattern for t in policy.targets if isinstance(t, PathTarget) for pattern in t.exclude]
