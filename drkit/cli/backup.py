"""`drkit backup`: back up policies now."""

from __future__ import annotations

import click

from drkit.cli.app import App, complete_policy, finish_runs, json_option, pass_app, prometheus_option
from drkit.core.display import count_of, format_size
from drkit.core.durations import format_duration
from drkit.core.outcome import RunStatus
from drkit.evidence.payloads import BackupMeasured, measured_of


@click.command()
@click.argument("names", nargs=-1, shell_complete=complete_policy)
@click.option("--all", "all_", is_flag=True, help="Back up every policy.")
@prometheus_option
@json_option
@pass_app
def backup(app: App, names: tuple[str, ...], all_: bool, as_json: bool) -> None:
    """Back up policies now. One failing policy does not stop the others; the exit code is the worst."""
    from drkit.cli.progress import BackupProgress, shows_progress
    from drkit.jobs.backup import run_backup

    outcomes = []
    for item in app.select(names, all_):
        with BackupProgress(item.name, enabled=shows_progress(as_json)) as progress:
            outcomes.append(run_backup(app.workspace, item.policy, on_status=progress.update))
    finish_runs(outcomes, as_json, _backup_line, many=True)


def _backup_line(o) -> str | tuple[str, bool]:
    r = o.record
    if o.status in (RunStatus.OK, RunStatus.PARTIAL) and r is not None:
        word = "OK" if o.status is RunStatus.OK else "PARTIAL"
        added = measured_of(r, BackupMeasured).data_added
        line = (f"{word} {o.policy}: snapshot {r.snapshot_id[:8]} {format_size(r.bytes)} / {count_of(r.files, 'file')} "
                f"(+{format_size(added)} new) in {format_duration(r.duration_s)}")
        return (line + f" — {o.error}", True) if o.status is RunStatus.PARTIAL else line
    return f"{o.status.upper()} {o.policy}: backup did not complete"
