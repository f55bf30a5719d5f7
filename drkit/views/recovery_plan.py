"""`drkit runbook --all`: one recovery plan for every policy, in the order systems must come back
(drkit/core/recovery_plan.py), with per system the exact `drkit restore` command, a plain-restic
fallback that works without drkit, the expected times from drills, the checks as shell commands,
the contacts and ready-to-send messages (docs/recovery.md, "Recovery plan").

Secrets are referenced by where they live (password file, variable, command), never copied in.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from drkit.checks import ManualContext, check_command
from drkit.core.locations import public_url
from drkit.core.policy import LoadedPolicy, Policy
from drkit.core.recovery_plan import Step, recovery_order, timeline, unknown_dependencies
from drkit.engines.catalog import Catalog
from drkit.evidence.payloads import BackupMeasured, measured_of
from drkit.evidence.records import Record
from drkit.jobs.backup import policy_tag
from drkit.jobs.drill.databases import DatabaseTiming
from drkit.jobs.restore import Landing, landings
from drkit.views.runbook import drill_databases, markdown_templates, password_hint
from drkit.views.status import policy_status

DEFAULT_RESTORE_DIR = Path("/srv/restore")


@dataclass(frozen=True)
class SystemPlan:
    """Everything the plan says about one system."""

    step: Step
    depends_on: list[str]
    last_pass_at: datetime | None
    last_pass_rta_s: float | None   # the newest verified drill's recovery time
    projected_s: float | None       # the projected full restore (report model)
    restore_dir: Path
    restore_command: str
    fallback: list[str]             # shell lines: plain restic, no drkit
    landed: list[Landing]
    checks: list[str]               # shell lines on $RESTORE
    last_pass: Record | None = None  # the newest verified drill
    databases: list[DatabaseTiming] = field(default_factory=list)  # its database phases

    @property
    def policy(self) -> Policy:
        return self.step.item.policy


@dataclass(frozen=True)
class RecoveryPlan:
    generated_at: datetime
    policies_dir: Path
    systems: list[SystemPlan]
    notes: list[str]  # dependencies on policies that are not here

    @property
    def total_s(self) -> float:
        return self.systems[-1].step.done_after_s if self.systems else 0.0


def expected_time(projected_s: float | None, last_pass_rta_s: float | None) -> float | None:
    """The projected full restore when drills allow one (it covers today's size), else the newest
    verified drill's recovery time."""
    return projected_s if projected_s is not None else last_pass_rta_s


def build_plan(policies: list[LoadedPolicy], catalog: Catalog, state_dir: Path, policies_dir: Path,
               restore_dir: Path, now: datetime) -> RecoveryPlan:
    """The plan; PolicyError when the dependencies form a cycle."""
    order = recovery_order(policies)
    figures = {item.name: _figures(catalog, state_dir, item.policy, now) for item in order}
    steps = timeline(order, {name: expected_time(f[2], f[1]) for name, f in figures.items()})
    systems = [_system(step, figures[step.item.name], catalog, state_dir, policies_dir, restore_dir) for step in steps]
    return RecoveryPlan(now, policies_dir, systems, [str(p) for p in unknown_dependencies(policies)])


def plan_timeline(policies: list[LoadedPolicy], catalog: Catalog | None, state_dir: Path,
                  now: datetime) -> list[Step]:
    """The order's timeline (`policy validate`); without a catalog every time is unknown."""
    order = recovery_order(policies)
    figures = {item.name: _figures(catalog, state_dir, item.policy, now) for item in order} if catalog else {}
    return timeline(order, {name: expected_time(f[2], f[1]) for name, f in figures.items()})


def _figures(catalog: Catalog, state_dir: Path, policy: Policy,
             now: datetime) -> tuple[datetime | None, float | None, float | None, Record | None]:
    """(last passing drill at, its recovery time, projected full restore, that drill's record)."""
    status = policy_status(catalog, state_dir, policy, now)
    drill = catalog.last_record(policy.name, "drill", ["pass", "breach"])
    return (status.last_pass_at, drill.duration_s if drill is not None else None,
            status.report.rto.projected_full_rto_s, drill)


def _system(step: Step, figures: tuple, catalog: Catalog, state_dir: Path, policies_dir: Path,
            restore_dir: Path) -> SystemPlan:
    item = step.item
    policy = item.policy
    target = restore_dir / item.name
    staging = staging_of(catalog, state_dir, policy.name)
    ctx = ManualContext(staging, policy, item.file.resolve().parent)
    command = (f"drkit --policies {shlex.quote(str(policies_dir.resolve()))} restore {item.name} "
               f"--target {shlex.quote(str(target))}")
    return SystemPlan(step, list(policy.business.depends_on), figures[0], figures[1], figures[2], target, command,
                      fallback_commands(policy, target), landings(policy, staging, target, [], None, in_place=False),
                      [check_command(check, ctx) for check in policy.drill.checks], figures[3],
                      drill_databases(figures[3]))


def staging_of(catalog: Catalog, state_dir: Path, name: str) -> str:
    """The staging dir as the newest backup stored it (dumps sit there in the snapshot)."""
    backup = catalog.last_record(name, "backup", ["pass", "partial"])
    manifest = measured_of(backup, BackupMeasured).manifest if backup is not None else None
    return str(Path(manifest).parent) if manifest else str(state_dir / "staging" / name)


def fallback_commands(policy: Policy, target: Path) -> list[str]:
    """Plain restic, for a host without drkit: reach the repository, list, restore the newest
    snapshot of this policy with restic's own verification. Credentials are named, never given."""
    repo = policy.repository
    lines = [f"export RESTIC_REPOSITORY={shlex.quote(public_url(repo.url).removeprefix('local:'))}",
             password_hint(policy)]
    if repo.aws_profile:
        lines.append(f"export AWS_PROFILE={shlex.quote(repo.aws_profile)}")
    elif repo.url.startswith("s3:"):
        lines.append("# S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or an AWS profile) must be set")
    tag = policy_tag(policy.name)
    lines += [f"restic snapshots --tag {tag}",
              f"restic restore latest --tag {tag} --target {shlex.quote(str(target))} --verify"]
    for copy in policy.repositories[1:]:  # the first one lost: its copies hold the same snapshots
        lines += [f"# that repository lost? its copy {copy.name} (drkit restore {policy.name} --repository "
                  f"{copy.name} …), with the same restic commands:",
                  f"#   export RESTIC_REPOSITORY={shlex.quote(public_url(copy.url).removeprefix('local:'))}",
                  f"#   {password_hint(policy, copy.name)}"]
    return lines


def render_markdown(plan: RecoveryPlan) -> str:
    env = markdown_templates()
    return env.get_template("recovery-plan.md.j2").render(plan=plan)


def render_html(plan: RecoveryPlan) -> str:
    return html_page(render_markdown(plan), f"Recovery plan: {len(plan.systems)} systems")


def html_page(markdown: str, title: str) -> str:
    """A runbook as one self-contained HTML page (markdown-it, which rich already brings)."""
    from html import escape

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n")


STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
         "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.2rem .5rem;text-align:left}"
         "pre{background:#f4f4f4;padding:.6rem;overflow-x:auto}blockquote{border-left:4px solid #bbb;margin-left:0;"
         "padding-left:1rem;color:#333}strong{color:#a00}")
