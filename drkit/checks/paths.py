"""Paths in checks, confined to the sandbox: a restored symlink pointing at live data must not make
a check pass, and a target's live path means its copy in the restore."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from pydantic import BaseModel

from drkit.checks.registry import CheckContext, CheckError, CheckFailed, ManualContext
from drkit.targets import target_kind


def sandbox_path(ctx: CheckContext, path: str) -> Path:
    """Map a check path into the sandbox: relative to its root, or an absolute original path
    (restic restores /srv/x to sandbox/srv/x). Refuse paths that leave the sandbox, lexically
    or through a restored symlink."""
    pure = PurePosixPath(path)
    relative = pure.relative_to("/") if pure.is_absolute() else pure
    lexical = Path(os.path.normpath(ctx.sandbox / relative))
    if not _inside(lexical, ctx.sandbox):
        raise CheckFailed(f"{path}: leaves the sandbox")
    real = Path(os.path.realpath(lexical))
    if not _inside(real, ctx.sandbox):
        raise CheckFailed(f"{path}: resolves outside the sandbox ({real}) through a restored symlink")
    return real


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def target_copy(ctx: CheckContext, target: BaseModel) -> Path:
    """Where a target's data is in the sandbox (a staged dump is under the staging dir)."""
    if ctx.staging is None:
        raise CheckError(f"{target_kind(target).label(target)}: the snapshot has no drkit staging dir holding its copy")
    return sandbox_path(ctx, str(target_kind(target).restored_path(target, Path(ctx.staging))))


def restored_location(ctx: CheckContext, path: str) -> Path:
    """The live path of a target (a sqlite database) maps to its copy in the restore (the staged
    copy, drkit/targets/sqlite.py); any other path maps like file_exists."""
    for target in ctx.policy.targets:
        if any(str(live.path) == path for live in target_kind(target).live_paths(target)):
            return target_copy(ctx, target)
    return sandbox_path(ctx, path)


def in_restore(path: str) -> str:
    """A check path as shell text under `$RESTORE` (relative, or an original absolute path)."""
    pure = PurePosixPath(path)
    relative = str(pure.relative_to("/") if pure.is_absolute() else pure)
    return '"$RESTORE/' + relative.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`") + '"'


def restored_location_by_hand(ctx: ManualContext, path: str) -> str:
    """`restored_location` for a runbook: a target's live path means its copy under `$RESTORE`."""
    for target in ctx.policy.targets:
        kind = target_kind(target)
        if any(str(live.path) == path for live in kind.live_paths(target)):
            return in_restore(str(kind.restored_path(target, Path(ctx.staging))))
    return in_restore(path)
