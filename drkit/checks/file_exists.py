"""`file_exists: PATH`: the path is in the restored tree (relative, or the original absolute path)."""

from __future__ import annotations

import os

from pydantic import Field

from drkit.checks.paths import in_restore, sandbox_path
from drkit.checks.registry import CheckContext, CheckFailed, register_check
from drkit.core.policy import Model


class FileExistsCheck(Model):
    file_exists: str = Field(description="path relative to the restored tree (or the original absolute path)")


@register_check(FileExistsCheck, key="file_exists", name=lambda c: f"file_exists {c.file_exists}",
                by_hand=lambda c, _ctx: f"test -e {in_restore(c.file_exists)} && echo found   # file_exists")
def file_exists(check: FileExistsCheck, ctx: CheckContext) -> str:
    target = sandbox_path(ctx, check.file_exists)
    if not os.path.lexists(target):
        raise CheckFailed("not in the restored tree")
    return f"found {target.relative_to(ctx.sandbox)}"
