"""`drkit status`: exposure now vs RPO, last drill vs RTO."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from drkit.cli.app import App, emit_document, err, json_option, out, pass_app, write_output
from drkit.core import errors
from drkit.evidence.records import now_utc


@click.command()
@json_option
@click.option("--prometheus", "prom_file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Also write a node-exporter textfile (atomically), e.g. /var/lib/node_exporter/drkit.prom.")
@pass_app
def status(app: App, as_json: bool, prom_file: Path | None) -> None:
    """Exposure now vs RPO, last drill vs RTO and drill age vs interval, per policy (local catalog only).

    Exit 3 when any policy's exposure exceeds its RPO, its last completed drill failed or was slower
    than the RTO, or no drill passed within 1.5 drill intervals (30 days without a drill schedule)."""
    from drkit.views.report.table import status_table
    from drkit.views.status import status_board

    now = now_utc()
    board = status_board(app.workspace.catalog, app.workspace.state_dir, [i.policy for i in app.policies], now)
    if prom_file is not None:
        from drkit.views.report.prometheus import render

        write_output(prom_file, render(board.policies, now.timestamp()), "--prometheus FILE")  # atomic, as node_exporter needs
    if as_json:
        emit_document(board)
    else:
        out.print(status_table(board.policies))
    for warning in () if app.quiet else (w for p in board.policies for w in p.warnings()):
        err.print(f"warning: {warning}", markup=False)
    if board.breached:
        if app.quiet:   # `drkit -q status` from cron: silent while healthy, the table mailed on a breach
            err.print(status_table(board.policies))
        sys.exit(int(errors.ExitCode.BREACH))
