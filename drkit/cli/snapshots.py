"""`drkit snapshots`: list a policy's snapshots."""

from __future__ import annotations

import click
from rich.table import Table

from drkit.cli.app import App, complete_policy, emit_document, json_option, out, pass_app
from drkit.core.display import count_of, format_when


@click.command()
@click.argument("name", shell_complete=complete_policy)
@click.option("--repository", "repository", metavar="REPO", default=None,
              help="List this repository of the policy (a copy). Default: the first.")
@json_option
@pass_app
def snapshots(app: App, name: str, repository: str | None, as_json: bool) -> None:
    """List a policy's snapshots (read from the repository, manual restic ones included)."""
    from drkit.jobs.rebuild import list_snapshots

    listing = list_snapshots(app.workspace, app.policy(name).policy, repository)
    if as_json:
        emit_document(listing)
        return
    if not out.is_terminal:
        _print_tsv(listing.snapshots)
        return
    marked = any(listing.guard_of(s) for s in listing.snapshots)   # a guard column only when it says something
    table = Table("id", "time (UTC)", "host", "tags", "paths", *(["guard"] if marked else []),
                  title=f"{name}: {count_of(len(listing.snapshots), 'snapshot')}")
    for s in listing.snapshots:
        mark = {"suspicious": "SUSPICIOUS", "accepted": "accepted"}.get(listing.guard_of(s) or "", "")
        table.add_row(s.short_id, format_when(s.time), s.hostname, ",".join(s.tags), ", ".join(s.paths),
                      *([mark] if marked else []))
    for column in table.columns:
        column.overflow = "fold"   # a narrow terminal wraps an id or path, never cuts it with "…"
    out.print(table)


def _print_tsv(snapshots) -> None:
    """Piped: one tab-separated line per snapshot with the full id and every path, nothing cut
    to a width, so `cut`/`awk` and scripts get what restic would accept."""
    click.echo("id\ttime\thost\ttags\tpaths")
    for s in snapshots:
        click.echo("\t".join([s.id, format_when(s.time), s.hostname, ",".join(s.tags), ",".join(s.paths)]))
