"""A drkit plug-in living outside drkit/, as docs/extending.md describes: one of each extension.

Load it with `DRKIT_PLUGINS=toy_plugin` and this directory on PYTHONPATH (the CLI imports it at
start-up), or import it in-process. It registers:

- target `toy: {text, name}`: stages a file `toy/<name>` holding `text`;
- check `toy_check: {expect, name}`: the restored copy of that toy file holds `expect`;
- notifier channel `toy_log: FILE`: appends each message's summary line to FILE;
- report format `toy`: one line per policy.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from drkit.checks import CheckContext, CheckError, CheckFailed, register_check, target_copy
from drkit.core.policy import Event, Model
from drkit.notify import Message, register_channel
from drkit.targets import StagedKind, register_target
from drkit.views.report.formats import register_format
from drkit.views.report.model import Report

NAME = Field("toy.txt", pattern=r"^[A-Za-z0-9._-]+$", description="file name inside the staging dir")


class ToySpec(Model):
    text: str = Field(description="what the staged file holds")
    name: str = NAME


class ToyTarget(Model):
    toy: ToySpec


@register_target(ToyTarget, key="toy")
class ToyKind(StagedKind[ToyTarget]):
    def label(self, target: ToyTarget) -> str:
        return f"toy {target.toy.name}"

    def staged_name(self, target: ToyTarget) -> str:
        return f"toy/{target.toy.name}"

    def dump(self, target: ToyTarget, out: Path) -> None:
        out.write_text(target.toy.text, encoding="utf-8")

    def runbook(self, target: ToyTarget, restored: str) -> str:
        return f"the toy text: `cat \"$RESTORE/{restored}\"`"


class ToyExpectation(Model):
    expect: str
    name: str = NAME


class ToyCheck(Model):
    toy_check: ToyExpectation


@register_check(ToyCheck, key="toy_check", name=lambda c: f"toy_check {c.toy_check.name}")
def toy_check(check: ToyCheck, ctx: CheckContext) -> str:
    spec = check.toy_check
    toys = [t for t in ctx.policy.targets if isinstance(t, ToyTarget) and t.toy.name == spec.name]
    if not toys:
        raise CheckError(f"the policy has no toy target named {spec.name}")
    copy = target_copy(ctx, toys[0])
    text = copy.read_text(encoding="utf-8") if copy.is_file() else None
    if text != spec.expect:
        raise CheckFailed(f"restored toy holds {text!r}, expected {spec.expect!r}")
    return f"restored toy holds {text!r}"


class ToyLog(Model):
    toy_log: Path
    on: list[Event] = ["start", "success", "failure", "breach"]


@register_channel(ToyLog, key="toy_log", label=lambda t: "toy_log")
def deliver(target: ToyLog, message: Message) -> None:
    with open(target.toy_log, "a", encoding="utf-8") as log:
        log.write(message.summary() + "\n")


@register_format("toy")
def render(report: Report) -> str:
    return "".join(f"{p.name}: {len(p.items)} evidence records\n" for p in report.policies)
