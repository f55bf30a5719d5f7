"""`drkit snapshots`: list a policy's snapshots."""

from __future__ import annotations

import click
from rich.table import Table

from drkit.cli.app import App, emit_document, json_option, out, pass_app
from drkit.core.display import format_when


@click.command()
@click.argument("name")
@json_option
@pass_app
def snapshots(app: App, name: str, as_json: bool) -> None:
    """List a policy's snapshots (read from the repository, manual restic ones included)."""
    from drkit.jobs.rebuild import list_snapshots

    listing = list_snapshots(app.workspace, app.policy(name).policy)
    if as_json:
        emit_document(listing)
        return
    table = Table("id", "time (UTC)", "host", "tags", "paths", title=f"{name}: {len(listing.snapshots)} snapshot(s)")
    for s in listing.snapshots:
        table.add_row(s.short_id, format_when(s.time), s.hostname, ",".join(s.tags),
                      ", ".join(s.paths))
    out.print(table)
