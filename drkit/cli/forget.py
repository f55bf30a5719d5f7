"""`drkit forget`: apply retention."""

from __future__ import annotations

import click

from drkit.cli.app import App, complete_policy, finish_runs, json_option, pass_app, prometheus_option
from drkit.core.display import count_of
from drkit.core.outcome import RunStatus


@click.command()
@click.argument("name", shell_complete=complete_policy)
@click.option("--repository", "repository", metavar="REPO", default=None,
              help="Only this repository (a name from the policy's `repositories:`). Default: every one.")
@click.option("--dry-run", is_flag=True, help="Show what would be kept and removed; change nothing.")
@click.option("--accept-suspicious", "accept_suspicious", metavar="SNAPSHOT", multiple=True,
              help="A snapshot the ransomware guardrail marked that you checked (repeatable); recorded in evidence.")
@prometheus_option
@json_option
@pass_app
def forget(app: App, name: str, repository: str | None, dry_run: bool, accept_suspicious: tuple[str, ...],
           as_json: bool) -> None:
    """Apply the policy's retention (restic forget, then prune) to its snapshots in every repository.

    Only this policy's snapshots. Each repository of the policy (or the one `--repository` names)
    is its own run with its own evidence; a copy is judged by its own newest snapshot
    (docs/repositories.md).

    Refuses (exit 3) when the newest backup failed, no snapshot is younger than the RPO (in a copy:
    no copied one), or a snapshot is marked suspicious by the ransomware guardrail and nobody
    accepted it (docs/guard.md); exit 2 when the policy has no retention section. The newest
    `guard.keep_clean` snapshots that were never suspicious are kept whatever retention says.
    A refusal or failure on one repository does not stop the others; the exit code is the worst.
    """
    from drkit.jobs.forget import run_forget

    policy = app.policy(name).policy
    outcomes = run_forget(app.workspace, policy, dry_run=dry_run, accept_suspicious=accept_suspicious,
                          repository=repository)
    several = len(policy.repositories) > 1
    names = {id(o): repo for o, repo in zip(outcomes, _names(policy, repository))}
    finish_runs(outcomes, as_json, lambda o: _forget_line(o, names[id(o)] if several else None),
                many=len(outcomes) > 1)


def _names(policy, repository: str | None) -> list[str]:
    return [policy.repository_named(repository).name] if repository is not None else [r.name for r in policy.repositories]


def _forget_line(o, repository: str | None = None) -> str:
    """One run's lines; a policy with several repositories names the one (`shop offsite:`)."""
    where = f"{o.policy} {repository}" if repository else o.policy
    detail = o.detail
    result = detail.result if detail is not None else None
    if result is None or (o.status is not RunStatus.OK):
        word = "REFUSED" if o.status is RunStatus.BREACH else o.status.upper()
        return f"{word} {where}: forget did not run"
    verb = ("would keep", "would remove") if detail.dry_run else ("kept", "removed")
    lines = [f"{'DRY RUN' if detail.dry_run else 'OK'} {where}: {verb[0]} {len(result.kept)}, {verb[1]} "
             f"{count_of(len(result.removed), 'snapshot')}" + ("" if detail.dry_run else "; pruned")]
    lines += [f"  {verb[1]} {sid[:8]}" for sid in result.removed]
    lines += [f"  accepted suspicious {sid[:8]}" for sid in detail.accepted_suspicious]
    if detail.protected:
        lines.append(f"  guard.keep_clean protects {', '.join(sid[:8] for sid in detail.protected)}")
    return "\n".join(lines)
