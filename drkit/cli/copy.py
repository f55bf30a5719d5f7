"""`drkit copy`: copy a policy's snapshots to its other repositories."""

from __future__ import annotations

import click

from drkit.cli.app import App, complete_policy, finish_runs, json_option, pass_app, prometheus_option
from drkit.core.display import count_of
from drkit.core.durations import format_duration
from drkit.core.outcome import RunStatus


@click.command()
@click.argument("name", shell_complete=complete_policy)
@click.option("--to", "to", metavar="REPO", default=None,
              help="Only this repository (a name from the policy's `repositories:`). Default: every one after the first.")
@prometheus_option
@json_option
@pass_app
def copy(app: App, name: str, to: str | None, as_json: bool) -> None:
    """Copy the policy's snapshots from its first repository to the others (restic copy).

    Only snapshots a copy lacks are copied. Each destination is its own run with its own evidence;
    a failed copy never changes a backup's result. Exit 0 ok, 1 could not copy, 2 usage, 5 locked."""
    from drkit.jobs.copy import run_copy

    finish_runs(run_copy(app.workspace, app.policy(name).policy, to=to), as_json, _copy_line, many=True)


def _copy_line(o) -> str:
    detail = o.detail
    if detail is None:
        return f"{o.status.upper()} {o.policy}: copy did not run"
    where = f"{detail.source} -> {detail.destination}"
    if o.status is RunStatus.OK:
        already = f", {detail.already_present} already there" if detail.already_present else ""
        return (f"OK {o.policy}: copied {count_of(len(detail.copied), 'snapshot')} {where}{already} "
                f"in {format_duration(o.duration_s)}")
    return f"{o.status.upper()} {o.policy}: copy {where} did not complete"
