"""`drkit runbook`: the recovery runbook of a policy, or the recovery plan of all of them."""

from __future__ import annotations

from pathlib import Path

import click

from drkit.cli.app import App, complete_policy, pass_app, write_output
from drkit.core import errors
from drkit.evidence.payloads import BackupMeasured, measured_of
from drkit.evidence.records import now_utc


@click.command()
@click.argument("name", required=False, shell_complete=complete_policy)
@click.option("--all", "all_", is_flag=True, help="One recovery plan for every policy, ordered by business.depends_on, "
                                                  "then tier, with a timeline against each RTO.")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md", show_default=True,
              help="Markdown, or one self-contained HTML page.")
@click.option("--restore-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("/srv/restore"),
              show_default=True, help="Where the plan's restore commands put each system (DIR/NAME).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE (atomically).")
@pass_app
def runbook(app: App, name: str | None, all_: bool, fmt: str, restore_dir: Path, output: Path | None) -> None:
    """Recovery runbook from the policy and the measured figures: contacts, snapshots, restore and
    restic commands, where each target is in the restore, checks as commands, expected recovery time.
    With --all, a plan across policies: the order, a timeline flagging RTOs the order cannot meet,
    and per system its commands, contacts and messages to send."""
    if all_ == (name is not None):
        raise errors.UsageError("name one policy, or pass --all for the plan across policies")
    text = _plan(app, fmt, restore_dir) if all_ else _runbook(app, name, fmt)  # type: ignore[arg-type]
    if output is None:
        click.echo(text, nl=False)
        return
    write_output(output, text)
    click.echo(f"{'recovery plan' if all_ else 'runbook'} written to {output.resolve()}")


def _plan(app: App, fmt: str, restore_dir: Path) -> str:
    from drkit.views.recovery_plan import build_plan, render_html, render_markdown

    plan = build_plan(app.policies, app.workspace.catalog, app.workspace.state_dir, app.policies_dir,
                      restore_dir.absolute(), now_utc())
    return render_html(plan) if fmt == "html" else render_markdown(plan)


def _runbook(app: App, name: str, fmt: str) -> str:
    from drkit.views.recovery_plan import html_page
    from drkit.views.runbook import render
    from drkit.views.status import policy_status

    item = app.policy(name)
    now = now_utc()
    catalog = app.workspace.catalog
    state = policy_status(catalog, app.workspace.state_dir, item.policy, now)
    manifest = measured_of(state.last_backup, BackupMeasured).manifest if state.last_backup else None
    staging = Path(manifest).parent if manifest else app.workspace.state_dir / "staging" / name
    text = render(item.policy, item.file, state, catalog.snapshots(name), staging, now)
    return html_page(text, f"Recovery runbook: {name}") if fmt == "html" else text
