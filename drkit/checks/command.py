"""`command: [argv...]` or `{run, timeout}`: a program of yours judges the restored tree by its exit
code. It runs in the policy file's directory with `{sandbox}` in argv and DRKIT_SANDBOX in its
environment (restic's secrets removed), through drkit/engines/process.py: a timeout or an
interrupted drill stops it and everything it started."""

from __future__ import annotations

import shlex
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from drkit.checks.registry import CheckContext, CheckFailed, ManualContext, register_check
from drkit.core.policy import Duration, Model
from drkit.engines import process


class CommandCheckSpec(Model):
    run: list[str] = Field(min_length=1)
    timeout: Duration = timedelta(minutes=10)


def _argv_shorthand(value: Any) -> Any:
    """`command: [argv...]` is short for `command: {run: [argv...]}`; one model, so a mistake in
    either form gets one error message rather than one per alternative."""
    return {"run": value} if isinstance(value, list) else value


class CommandCheck(Model):
    command: Annotated[CommandCheckSpec, BeforeValidator(_argv_shorthand,
                                                         json_schema_input_type=list[str] | CommandCheckSpec)] = Field(
        description="argv of a program that judges the restored tree by its exit code, or {run, timeout}")

    @property
    def spec(self) -> CommandCheckSpec:
        return self.command


def command_argv(argv: list[str], sandbox: Path) -> list[str]:
    return [arg.replace("{sandbox}", str(sandbox)) for arg in argv]


def command_by_hand(check: CommandCheck, ctx: ManualContext) -> str:
    """The same argv, `{sandbox}` as `$RESTORE`, run where the drill runs it."""
    argv = " ".join('"$RESTORE"'.join(shlex.quote(part) if part else "" for part in arg.split("{sandbox}"))
                    for arg in check.spec.run)
    return f"(cd {shlex.quote(str(ctx.base_dir))} && DRKIT_SANDBOX=\"$RESTORE\" {argv})   # must exit 0"


@register_check(CommandCheck, key="command", name=lambda c: "command " + " ".join(c.spec.run), by_hand=command_by_hand)
def command_check(check: CommandCheck, ctx: CheckContext) -> str:
    spec = check.spec
    try:
        done = process.run(command_argv(spec.run, ctx.sandbox), timeout=spec.timeout.total_seconds(),
                           cwd=ctx.base_dir, env=process.child_env({"DRKIT_SANDBOX": str(ctx.sandbox)}))
    except process.ProcessError as exc:
        raise CheckFailed(str(exc)) from None
    if not done.ok:
        tail = done.last_line()
        raise CheckFailed(f"exit {done.returncode}" + (f": {tail}" if tail else ""))
    tail = process.last_line(done.stdout)
    return "exit 0" + (f": {tail}" if tail else "")
