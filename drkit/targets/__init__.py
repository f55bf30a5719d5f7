"""Targets turn a policy's `targets:` into files restic backs up.

Paths are backed up in place (absolute paths, so a restore recreates them under the sandbox).
Databases and command output are first written into the policy's staging directory, which is
backed up in the same snapshot: one run = one snapshot = one recovery point. Each kind is one
module registered with `@register_target` (drkit/targets/registry.py, docs/extending.md).
"""

from __future__ import annotations

from pathlib import Path

from drkit.core.policy import Policy
from drkit.engines.databases.dumps import DumpIndex
from drkit.targets.registry import LivePath, StagedKind, TargetKind, register_target, target_kind

# The built-in kinds register themselves on import, in the order the docs list them.
from drkit.targets import path, postgres, mysql, sqlite, command  # noqa: E402, F401, I001  isort: skip

__all__ = ["LivePath", "StagedKind", "TargetKind", "check_sources", "excludes", "live_paths", "prepare",
           "register_target", "staged_databases", "target_kind"]


def check_sources(policy: Policy) -> None:
    """Fail before restic starts: restic exits 0 on a missing path among valid ones."""
    for target in policy.targets:
        target_kind(target).check_source(target)


def prepare(policy: Policy, staging: Path) -> list[Path]:
    """Write dumps into `staging` (emptied first); return every path restic must back up."""
    paths = [p for target in policy.targets for p in target_kind(target).backup_paths(target, staging)]
    in_place = [p for p in paths if not p.is_relative_to(staging)]
    return in_place + ([staging] if len(in_place) < len(paths) else [])


def excludes(policy: Policy) -> list[str]:
    return [pattern for target in policy.targets for pattern in target_kind(target).excludes(target)]


def live_paths(policy: Policy) -> list[LivePath]:
    """The live data of every target: what a drill sandbox must not touch."""
    return [live for target in policy.targets for live in target_kind(target).live_paths(target)]


def staged_databases(policy: Policy, staging: Path) -> list[DumpIndex]:
    """What the policy's database targets dumped into `staging` (after `prepare`)."""
    found = (target_kind(target).staged_databases(target, staging) for target in policy.targets)
    return [index for index in found if index is not None]
