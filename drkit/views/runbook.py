"""`drkit runbook NAME`: a recovery runbook in Markdown, from the policy and the measured figures.

Written for the person restoring at 3 a.m. without drkit's author at hand: who to call, which
snapshot to take, the exact restic commands, where each target's data sits in the restore, how
long it took in drills and how long the full data set should take. Secrets are referenced by
where they live (password file, environment variable, command), never copied in.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from drkit.checks import ManualContext, check_command
from drkit.core.display import format_size, format_when
from drkit.core.durations import format_duration
from drkit.core.locations import public_url
from drkit.core.policy import Policy
from drkit.engines.catalog import SnapshotRow
from drkit.evidence.records import Record
from drkit.jobs.drill.databases import DatabaseTiming, database_timings
from drkit.targets import target_kind
from drkit.views.status import PolicyStatus

TEMPLATES = Path(__file__).parent / "report" / "templates"
SNAPSHOTS_SHOWN = 5


@dataclass(frozen=True)
class TargetStep:
    """Where one target's data is in a restore under RESTORE, and how to put it back."""

    label: str
    restored: str  # path relative to the restore directory
    instructions: str


def target_steps(policy: Policy, staging: Path) -> list[TargetStep]:
    steps = []
    for target in policy.targets:
        kind = target_kind(target)
        restored = str(kind.restored_path(target, staging)).lstrip("/")
        steps.append(TargetStep(kind.label(target), restored, kind.runbook(target, restored)))
    return steps


@dataclass(frozen=True)
class CopyStep:
    """A copy repository to restore from when the first is lost (docs/repositories.md, "Copies")."""

    name: str
    repository: str  # its URL without credentials
    password: str  # the export line of its password source


def copy_steps(policy: Policy) -> list[CopyStep]:
    return [CopyStep(repo.name, public_url(repo.url), password_hint(policy, repo.name))
            for repo in policy.repositories[1:]]


def password_hint(policy: Policy, repository: str | None = None) -> str:
    repo = policy.repository_named(repository)
    if repo.password_file:
        which = f" --repository {repo.name}" if repository is not None else ""
        return (f"export RESTIC_PASSWORD_FILE={shlex.quote(str(repo.password_file))}   # lost with the host? "
                f"drkit keys recover {policy.name}{which} --identity RECOVERY_KEY (docs/security.md)")
    if repo.password_env:
        return f"export RESTIC_PASSWORD=\"${repo.password_env}\"   # the variable must be set in your shell"
    return f"export RESTIC_PASSWORD_COMMAND={shlex.quote(shlex.join(repo.password_command or []))}"


def markdown_templates() -> Environment:
    """The Jinja environment of the Markdown documents (runbooks, the recovery plan, post-mortems):
    strict about missing values, no HTML escaping, durations and UTC times as people read them."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, autoescape=False)  # Markdown, not HTML
    env.filters["duration"] = lambda s: "unknown" if s is None else format_duration(s)
    env.filters["when"] = lambda t: "never" if t is None else format_when(t) + " UTC"
    env.filters["size"] = format_size
    return env


def render(policy: Policy, file: Path, status: PolicyStatus, snapshots: list[SnapshotRow], staging: Path,
           generated_at: datetime) -> str:
    env = markdown_templates()
    newest = sorted(snapshots, key=lambda s: s.time, reverse=True)[:SNAPSHOTS_SHOWN]
    return env.get_template("runbook.md.j2").render(
        policy=policy, file=file, s=status, r=status.report, snapshots=newest, generated_at=generated_at,
        repository=public_url(policy.repository.url), password=password_hint(policy),
        steps=target_steps(policy, staging), tag=f"drkit-policy={policy.name}", copies=copy_steps(policy),
        checks=[check_command(check, ManualContext(str(staging), policy, file.resolve().parent))
                for check in policy.drill.checks],
        databases=drill_databases(status.last_drill))


def drill_databases(drill: Record | None) -> list[DatabaseTiming]:
    """The database phases of a drill record (none for a policy without database targets)."""
    if drill is None:
        return []
    return database_timings(drill.phases, (drill.measured or {}).get("databases") or [])
