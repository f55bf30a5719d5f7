"""`drkit snapshots`: list a policy's snapshots."""

from __future__ import annotations

import click
from rich.console import Console
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
    for column in table.columns[:3]:
        column.no_wrap = True
    for column in table.columns[3:]:
        column.overflow = "fold"  # wrapped at any character on a terminal, never cut with an ellipsis
    for s in listing.snapshots:
        table.add_row(s.short_id, format_when(s.time), s.hostname, "\n".join(s.tags), "\n".join(s.paths))
    # Piped, the table is as wide as its content: full paths for grep and scripts (--json for more).
    console = out if out.is_terminal else Console(highlight=False, width=1_000_000)
    console.print(table)
