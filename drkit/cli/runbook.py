"""`drkit runbook`: the recovery runbook of a policy."""

from __future__ import annotations

from pathlib import Path

import click

from drkit.cli.app import App, complete_policy, pass_app
from drkit.core.atomic import write_text_atomically
from drkit.evidence.payloads import BackupMeasured, measured_of
from drkit.evidence.records import now_utc


@click.command()
@click.argument("name", shell_complete=complete_policy)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE (atomically).")
@pass_app
def runbook(app: App, name: str, output: Path | None) -> None:
    """Recovery runbook (Markdown) from the policy and the measured figures: contacts, snapshots,
    restic commands, where each target is in the restore, expected recovery time."""
    from drkit.views.runbook import render
    from drkit.views.status import policy_status

    item = app.policy(name)
    now = now_utc()
    catalog = app.workspace.catalog
    state = policy_status(catalog, app.workspace.state_dir, item.policy, now)
    manifest = measured_of(state.last_backup, BackupMeasured).manifest if state.last_backup else None
    staging = Path(manifest).parent if manifest else app.workspace.state_dir / "staging" / name
    text = render(item.policy, item.file, state, catalog.snapshots(name), staging, now)
    if output is None:
        click.echo(text, nl=False)
        return
    write_text_atomically(output, text)
    click.echo(f"runbook written to {output.resolve()}")
