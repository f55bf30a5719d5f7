"""`drkit forget`: apply retention."""

from __future__ import annotations

import click

from drkit.cli.app import App, complete_policy, finish_runs, json_option, pass_app, prometheus_option
from drkit.core.display import count_of
from drkit.core.outcome import RunStatus


@click.command()
@click.argument("name", shell_complete=complete_policy)
@click.option("--dry-run", is_flag=True, help="Show what would be kept and removed; change nothing.")
@click.option("--accept-suspicious", "accept_suspicious", metavar="SNAPSHOT", multiple=True,
              help="A snapshot the ransomware guardrail marked that you checked (repeatable); recorded in evidence.")
@prometheus_option
@json_option
@pass_app
def forget(app: App, name: str, dry_run: bool, accept_suspicious: tuple[str, ...], as_json: bool) -> None:
    """Apply the policy's retention (restic forget, then prune) to this policy's snapshots only.

    Refuses (exit 3) when the newest backup failed, no snapshot is younger than the RPO, or a
    snapshot is marked suspicious by the ransomware guardrail and nobody accepted it
    (docs/guard.md); exit 2 when the policy has no retention section. The newest
    `guard.keep_clean` snapshots that were never suspicious are kept whatever retention says.
    """
    from drkit.jobs.forget import run_forget

    outcome = run_forget(app.workspace, app.policy(name).policy, dry_run=dry_run,
                         accept_suspicious=accept_suspicious)
    finish_runs([outcome], as_json, _forget_line)


def _forget_line(o) -> str:
    detail = o.detail
    result = detail.result if detail is not None else None
    if result is None or (o.status is not RunStatus.OK):
        word = "REFUSED" if o.status is RunStatus.BREACH else o.status.upper()
        return f"{word} {o.policy}: forget did not run"
    verb = ("would keep", "would remove") if detail.dry_run else ("kept", "removed")
    lines = [f"{'DRY RUN' if detail.dry_run else 'OK'} {o.policy}: {verb[0]} {len(result.kept)}, {verb[1]} "
             f"{count_of(len(result.removed), 'snapshot')}" + ("" if detail.dry_run else "; pruned")]
    lines += [f"  {verb[1]} {sid[:8]}" for sid in result.removed]
    lines += [f"  accepted suspicious {sid[:8]}" for sid in detail.accepted_suspicious]
    if detail.protected:
        lines.append(f"  guard.keep_clean protects {', '.join(sid[:8] for sid in detail.protected)}")
    return "\n".join(lines)
