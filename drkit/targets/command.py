"""Output of a command (e.g. mysqldump), captured into the staging directory."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field

from drkit.core.errors import SourceMissing
from drkit.core.policy import Duration, Model
from drkit.engines import process
from drkit.targets.registry import StagedKind, register_target


class CommandSource(Model):
    run: list[str] = Field(min_length=1, description="argv of a command whose stdout is backed up")
    filename: str = Field(pattern=r"^[A-Za-z0-9._-]+$", description="file name the output is stored under")
    timeout: Duration = Field(timedelta(hours=6), description="the command is stopped after this long")


class CommandTarget(Model):
    command: CommandSource


@register_target(CommandTarget, key="command")
class CommandKind(StagedKind[CommandTarget]):
    def label(self, target: CommandTarget) -> str:
        return f"command {target.command.filename}"

    def staged_name(self, target: CommandTarget) -> str:
        return f"command/{target.command.filename}"

    def dump(self, target: CommandTarget, out: Path) -> None:
        spec = target.command
        try:
            done = process.run(spec.run, timeout=spec.timeout.total_seconds(), stdout=out)
        except process.ProcessError as exc:
            raise SourceMissing(f"command target {spec.filename}: {exc}") from None
        if not done.ok:
            raise SourceMissing(f"command target {spec.filename}: {done.program} {done.status()}: {done.last_line()}")

    def runbook(self, target: CommandTarget, restored: str) -> str:
        return f"the output of `{' '.join(target.command.run)}`: load it with the matching import tool"
