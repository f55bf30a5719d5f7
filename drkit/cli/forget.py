"""`drkit forget`: apply retention."""

from __future__ import annotations

import sys

import click

from drkit.cli.app import App, emit_json, err, json_option, pass_app


@click.command()
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Show what would be kept and removed; change nothing.")
@json_option
@pass_app
def forget(app: App, name: str, dry_run: bool, as_json: bool) -> None:
    """Apply the policy's retention (restic forget, then prune) to this policy's snapshots only.

    Refuses (exit 3) when the newest backup failed or no snapshot is younger than the RPO,
    and (exit 2) when the policy has no retention section.
    """
    from drkit.daemon.jobs import run_notified
    from drkit.jobs.forget import run_forget

    item = app.policy(name)
    if dry_run:
        outcome = run_forget(app.workspace, item.policy, dry_run=True)
    else:
        outcome = run_notified(item.policy, "forget", lambda: run_forget(app.workspace, item.policy))
    result = outcome.result
    if as_json:
        emit_json({"policy": name, "status": outcome.status, "dry_run": dry_run, "exit_code": outcome.exit_code,
                   "kept": result.kept if result else None, "removed": result.removed if result else None,
                   "pruned": outcome.pruned, "error": str(outcome.error) if outcome.error else None,
                   "record": outcome.record.body(with_signature=True) if outcome.record else None})
    elif result is not None:
        verb = ("would keep", "would remove") if dry_run else ("kept", "removed")
        click.echo(f"{'DRY RUN' if dry_run else 'OK'} {name}: {verb[0]} {len(result.kept)}, {verb[1]} "
                   f"{len(result.removed)} snapshot(s)" + ("" if dry_run else "; pruned"))
        for sid in result.removed:
            click.echo(f"  {verb[1]} {sid[:8]}")
    else:
        click.echo(f"{'REFUSED' if outcome.status == 'breach' else outcome.status.upper()} {name}: forget did not run")
    if outcome.error and not as_json:
        err.print(f"drkit: error: {outcome.error}", markup=False)
    sys.exit(outcome.exit_code)
