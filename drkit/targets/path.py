"""Plain files and directories, backed up where they are."""

from __future__ import annotations

import os

from drkit.core.errors import SourceMissing
from drkit.core.policy import PathTarget


def check(target: PathTarget) -> None:
    path = target.path
    if not os.path.lexists(path):
        raise SourceMissing(f"source path {path} does not exist", hint="fix the path in the policy or restore the mount")
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        raise SourceMissing(f"source path {path} is not readable by this user")
