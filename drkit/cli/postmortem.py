"""`drkit postmortem`: a Markdown skeleton for the review after a failed or breached drill."""

from __future__ import annotations

from pathlib import Path

import click

from drkit.cli.app import App, pass_app, write_output
from drkit.evidence.records import now_utc


@click.command()
@click.argument("name")
@click.option("--drill", "drill_id", metavar="DIGEST",
              help="The drill's evidence record (first hex digits of its digest; default: the newest failed, "
                   "breached or errored drill).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE (atomically).")
@pass_app
def postmortem(app: App, name: str, drill_id: str | None, output: Path | None) -> None:
    """Post-mortem skeleton (Markdown) from a drill's signed evidence: timeline of its phases, errors,
    the objective exceeded and by how much, earlier drills; sections for root cause and actions."""
    from drkit.views.postmortem import build, render

    item = app.policy(name)
    text = render(build(app.workspace.catalog, app.workspace.state_dir, item.policy, drill_id, now_utc()))
    if output is None:
        click.echo(text, nl=False)
        return
    write_output(output, text)
    click.echo(f"post-mortem written to {output.resolve()}")
