"""Plain files and directories, backed up where they are (absolute paths, so a restore recreates
them under its target directory)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from drkit.core.errors import SourceMissing
from drkit.core.policy import AbsolutePath, Model
from drkit.targets.registry import LivePath, TargetKind, register_target


class PathTarget(Model):
    path: AbsolutePath = Field(description="Absolute path of a file or directory to back up")
    exclude: list[str] = Field([], description="restic --exclude patterns")


@register_target(PathTarget, key="path")
class PathKind(TargetKind[PathTarget]):
    def label(self, target: PathTarget) -> str:
        return f"path {target.path}"

    def check_source(self, target: PathTarget) -> None:
        path = target.path
        if not os.path.lexists(path):
            raise SourceMissing(f"source path {path} does not exist", hint="fix the path in the policy or restore the mount")
        if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
            raise SourceMissing(f"source path {path} is not readable by this user")

    def backup_paths(self, target: PathTarget, staging: Path) -> list[Path]:
        return [target.path]

    def excludes(self, target: PathTarget) -> list[str]:
        return list(target.exclude)

    def live_paths(self, target: PathTarget) -> list[LivePath]:
        return [LivePath(f"backup source {target.path}", target.path)]

    def restored_path(self, target: PathTarget, staging: Path) -> Path:
        return target.path

    def runbook(self, target: PathTarget, restored: str) -> str:
        return (f"compare, then copy back: `rsync -a \"$RESTORE/{restored}/\" \"{target.path}/\"` "
                "(add `--delete` only once you are sure)")
