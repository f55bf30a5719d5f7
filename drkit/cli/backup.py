"""`drkit backup`: back up policies now."""

from __future__ import annotations

import sys

import click

from drkit.cli.app import App, emit_json, err, json_option, pass_app
from drkit.core.display import format_size
from drkit.core.durations import format_duration


@click.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Back up every policy.")
@json_option
@pass_app
def backup(app: App, names: tuple[str, ...], all_: bool, as_json: bool) -> None:
    """Back up policies now. One failing policy does not stop the others; the exit code is the worst."""
    from drkit.cli.progress import BackupProgress
    from drkit.daemon.jobs import run_notified
    from drkit.jobs.backup import run_backup

    selected = app.select(names, all_)
    outcomes = []
    for item in selected:
        with BackupProgress(item.name, enabled=not as_json and sys.stderr.isatty()) as progress:
            outcomes.append(run_notified(item.policy, "backup",
                                         lambda: run_backup(app.workspace, item.policy, on_status=progress.update)))
    if as_json:
        emit_json([{"policy": o.policy, "status": o.status, "exit_code": o.exit_code,
                    "error": str(o.error) if o.error else None,
                    "record": o.record.body(with_signature=True) if o.record else None} for o in outcomes])
    else:
        for o in outcomes:
            click.echo(_backup_line(o))
            for warning in o.warnings:
                err.print(f"warning: {o.policy}: {warning}")
            if o.error and o.status != "partial":
                err.print(f"drkit: error: {o.error}", markup=False)
    worst = max((o.exit_code for o in outcomes), default=0)
    sys.exit(worst)


def _backup_line(o) -> str:
    r = o.record
    if o.status in ("ok", "partial") and r is not None:
        word = "OK" if o.status == "ok" else "PARTIAL"
        added = r.measured.get("data_added", 0)
        line = (f"{word} {o.policy}: snapshot {r.snapshot_id[:8]} {format_size(r.bytes)} / {r.files:,} files "
                f"(+{format_size(added)} new) in {format_duration(r.duration_s)}")
        return line + (f" — {o.error}" if o.status == "partial" else "")
    return f"{o.status.upper()} {o.policy}: {o.error}"
