"""`drkit scheduler …`: the daemon, its plan, systemd/cron units."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from drkit.cli.app import App, emit_document, err, json_option, out, pass_app, prometheus_option
from drkit.core import errors
from drkit.core.atomic import readable_dirs, write_text_atomically
from drkit.core.display import format_time_of_day, format_when
from drkit.evidence.records import now_utc


@click.group()
def scheduler() -> None:
    """Run every policy's jobs on their schedules, show the plan, or install systemd/cron units."""


@scheduler.command("run")
@click.option("--once", is_flag=True, help="Run the jobs that are due (catch-up) once and exit; exit code = worst run.")
@click.option("--max-parallel", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Jobs of different policies running at the same time.")
@click.option("--jitter", type=click.FloatRange(0), default=0.0, metavar="SECONDS",
              help="Delay each run by a random 0..SECONDS (spreads load across hosts).")
@click.option("--grace", type=click.FloatRange(0), default=30.0, show_default=True, metavar="SECONDS",
              help="On SIGTERM/SIGINT, time the running job gets to finish before restic is stopped.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="One line per job start and end: text, or JSON lines.")
@prometheus_option
@pass_app
def scheduler_run(app: App, once: bool, max_parallel: int, jitter: float, grace: float, log_format: str) -> None:
    """Foreground daemon: backup, forget, check and drill jobs per each policy's `schedule`.

    \b
    On start a job whose last run is older than its interval runs once (catch-up).
    SIGHUP reloads the policies (an invalid set is logged and the old one kept).
    SIGTERM/SIGINT: stop scheduling, let the running job finish within --grace,
    then stop restic, record the run as interrupted and exit 0.
    """
    from drkit.daemon.scheduler import Daemon, EventLog, Options

    daemon = Daemon(app.state_dir, app.reload_policies,
                    Options(once=once, max_parallel=max_parallel, jitter_s=jitter, grace_s=grace,
                            log_format=log_format, prometheus=app.prometheus), EventLog(log_format))
    sys.exit(daemon.run())


@scheduler.command("plan")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=7.0, show_default=True,
              help="How far ahead to look.")
@json_option
@pass_app
def scheduler_plan(app: App, days: float, as_json: bool) -> None:
    """Next runs per policy and job, as the scheduler computes them (a running one's own next runs)."""
    from drkit.daemon.scheduler import schedule_plan

    planned = schedule_plan([item.policy for item in app.policies], app.state_dir, now_utc(), days)
    if as_json:
        emit_document(planned)
        return
    if not planned.jobs:
        err.print("no policy has a schedule section; nothing would run")
        return
    table = Table("policy", "job", "schedule", "next run (UTC)", "then", f"runs in {days:g}d",
                  title=f"as computed by {planned.source}")
    for p in planned.jobs:
        then = ", ".join(format_time_of_day(t) if t.date() == p.runs[0].date() else format_when(t, minutes=True)
                         for t in p.runs[1:3])
        table.add_row(p.policy, p.job, p.phrase, format_when(p.next),
                      then, str(p.total))
    out.print(table)


@scheduler.command("install")
@click.option("--systemd", "kind", flag_value="systemd", help="drkit.service (daemon) plus a service + timer per job.")
@click.option("--cron", "kind", flag_value="cron",
              help="A crontab block (# BEGIN drkit … # END drkit; phrases cron cannot express are errors).")
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Write the files into DIR instead of printing them (cron: the block in DIR/drkit.crontab "
                   "replaces the previous one).")
@click.option("--user-crontab", is_flag=True,
              help="With --cron: put the block into your crontab (`crontab`), replacing drkit's previous block.")
@click.option("--uninstall", is_flag=True, help="With --cron: remove drkit's block (from -o DIR or --user-crontab).")
@click.option("--grace", type=click.FloatRange(0), default=30.0, show_default=True, metavar="SECONDS",
              help="The daemon's stop grace (sets TimeoutStopSec).")
@click.option("--jitter", type=click.FloatRange(0), default=0.0, metavar="SECONDS",
              help="RandomizedDelaySec= of the timers.")
@prometheus_option
@pass_app
def scheduler_install(app: App, kind: str | None, output: Path | None, user_crontab: bool, uninstall: bool,
                      grace: float, jitter: float) -> None:
    """Write systemd units or a crontab that run the same `drkit` commands on the policies' schedules."""
    from drkit.daemon.scheduler import job_specs
    from drkit.daemon.units import Confinement, crontab, drkit_argv, systemd_units

    if kind is None:
        raise errors.UsageError("choose --systemd or --cron")
    if kind != "cron" and (user_crontab or uninstall):
        raise errors.UsageError("--user-crontab and --uninstall go with --cron")
    if user_crontab and output is not None:
        raise errors.UsageError("give -o DIR or --user-crontab, not both")
    if uninstall and output is None and not user_crontab:
        raise errors.UsageError("--uninstall needs -o DIR or --user-crontab: where the block is")
    if kind == "cron":
        block = "" if uninstall else crontab(job_specs([item.policy for item in app.policies]),
                                               drkit_argv(app.policies_dir, app.state_dir))
        _install_cron(app, block, output, user_crontab)
        return
    policies = [item.policy for item in app.policies]
    confinement = Confinement.of(policies, app.state_dir, app.prometheus)
    files = {unit.name: unit.text for unit in systemd_units(job_specs(policies),
                                                            drkit_argv(app.policies_dir, app.state_dir),
                                                            grace_s=grace, jitter_s=jitter, confinement=confinement)}
    if output is None:
        for name, text in files.items():
            click.echo(f"# ---- {name} ----\n{text}")
        return
    with errors.state_writes("write the units", output, other="-o DIR"):
        readable_dirs(output)
        for name, text in files.items():
            write_text_atomically(output / name, text)
            click.echo(f"wrote {output / name}")
    _create_writable_directories(confinement.directories())
    click.echo("next: see docs/scheduling.md (systemctl enable --now drkit.service, or the drkit-*.timer units)")


def _create_writable_directories(directories: list[Path]) -> None:
    """The units' ReadWritePaths= must exist before they start (docs/operations.md)."""
    for directory in directories:
        if directory.exists():
            continue
        try:
            directory.mkdir(parents=True, mode=0o700)
        except OSError as exc:
            click.echo(f"drkit: warning: cannot create {directory} ({exc.strerror}); create it (mode 0700) "
                       "before the units start, or their drills cannot write it", err=True)
        else:
            click.echo(f"created {directory} (0700): the units may write only directories that exist when they start")


def _install_cron(app: App, block: str, output: Path | None, user_crontab: bool) -> None:
    """Print the block, or merge it into DIR/drkit.crontab or the user's crontab (an empty block
    removes drkit's); every other line of the crontab is kept (docs/operations.md)."""
    from drkit.daemon.units import merge_block, replace_user_crontab
    from drkit.daemon.units import user_crontab as read_user_crontab

    if output is None and not user_crontab:
        click.echo(block, nl=False)
        return
    what = "removed drkit's block from" if not block else "installed drkit's block in"
    if user_crontab:
        replace_user_crontab(merge_block(read_user_crontab(), block), app.workspace.private_state_dir)
        click.echo(f"{what} your crontab (crontab -l shows it)")
        return
    target = output / "drkit.crontab"
    existing = target.read_text() if target.exists() else ""
    with errors.state_writes("write the crontab", target, other="-o DIR"):
        readable_dirs(output)
        write_text_atomically(target, merge_block(existing, block))
    click.echo(f"{what} {target}")
