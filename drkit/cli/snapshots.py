"""`drkit snapshots`: list a policy's snapshots."""

from __future__ import annotations

import click
from rich.table import Table

from drkit.cli.app import App, emit_json, json_option, out, pass_app
from drkit.core.display import format_when
from drkit.evidence.records import utc_text


@click.command()
@click.argument("name")
@json_option
@pass_app
def snapshots(app: App, name: str, as_json: bool) -> None:
    """List a policy's snapshots (read from the repository, manual restic ones included)."""
    from drkit.engines.catalog import SnapshotRow

    item = app.policy(name)
    snaps = app.workspace.restic(item.policy).snapshots()
    app.workspace.catalog.replace_snapshots(name, [SnapshotRow(name, s.id, s.time, s.hostname, s.tags) for s in snaps])
    if as_json:
        emit_json([{"id": s.id, "short_id": s.short_id, "time": utc_text(s.time), "hostname": s.hostname,
                    "paths": s.paths, "tags": s.tags} for s in snaps])
        return
    table = Table("id", "time (UTC)", "host", "tags", "paths", title=f"{name}: {len(snaps)} snapshot(s)")
    for s in snaps:
        table.add_row(s.short_id, format_when(s.time), s.hostname, ",".join(s.tags),
                      ", ".join(s.paths))
    out.print(table)
