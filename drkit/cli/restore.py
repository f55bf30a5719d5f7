"""`drkit restore`: restore a snapshot (or some of its paths) into a directory, verified and recorded."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from drkit.cli.app import App, finish_runs, json_option, pass_app
from drkit.core import errors
from drkit.core.display import count_of, format_size, format_when
from drkit.core.durations import format_duration
from drkit.core.outcome import RunStatus


@click.command()
@click.argument("name")
@click.option("--target", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Empty or new directory; each path lands below it at its original absolute path "
                   "(/srv/x -> DIR/srv/x).")
@click.option("--snapshot", default="latest", show_default=True, metavar="latest|ID|before:TIME",
              help="The newest snapshot, an id (short or full), or the newest taken before TIME "
                   "(ISO date/datetime, UTC unless it names a zone, or a duration ago: before:2h).")
@click.option("--include", multiple=True, metavar="PATH",
              help="Restore only this absolute path (as backed up) and what is below it; repeatable.")
@click.option("--force", is_flag=True, help="Restore into a non-empty target (same-named files are overwritten); "
                                            "with --to-database, load into a non-empty database (the dump's objects "
                                            "are replaced).")
@click.option("--in-place", is_flag=True, help="Restore over the live data, every path where it was (asks first).")
@click.option("--yes", is_flag=True, help="Confirm --in-place without asking (scripts).")
@click.option("--to-database", metavar="DSN|OPTION-FILE",
              help="Load a database dump into this running server instead: a libpq DSN without password "
                   "(postgres targets) or a [client] option file (mysql targets).")
@click.option("--database", metavar="DB", help="With --to-database: the dumped database to load (when the "
                                               "snapshot holds several).")
@click.option("--repository", "repository", metavar="REPO", default=None,
              help="Restore from this repository of the policy (a copy; docs/repositories.md). Default: the first.")
@json_option
@pass_app
def restore(app: App, name: str, target: Path | None, snapshot: str, include: tuple[str, ...], force: bool,
            in_place: bool, yes: bool, to_database: str | None, database: str | None, repository: str | None,
            as_json: bool) -> None:
    """Restore a snapshot into a directory, verify every restored file against the backup manifest,
    and record signed evidence; or, with --to-database, load one database dump (verified first) into
    a running server. Exit 0 restored and verified, 1 could not complete (also: the server refused
    the dump), 2 refused (target or database not empty, over live data, unknown snapshot, path or
    database), 4 restored but not verified (a dump is then never loaded)."""
    from drkit.cli.progress import RestoreProgressBar, shows_progress
    from drkit.jobs.restore import RestoreRequest, run_restore

    item = app.policy(name)
    confirm = (lambda _question: True) if yes else (_ask if sys.stdin.isatty() else None)
    with RestoreProgressBar(name, enabled=shows_progress(as_json)) as progress:
        if database is not None and to_database is None:
            raise errors.UsageError("--database goes with --to-database")
        request = RestoreRequest(item.policy, target, snapshot, include, force, in_place, confirm, progress,
                                 to_database, database, repository)
        outcome = run_restore(app.workspace, request)
    finish_runs([outcome], as_json, lambda o: _restore_lines(o, to_database))


def _ask(question: str) -> bool:
    return click.confirm(question, default=False, err=True)


def _restore_lines(outcome, to_database: str | None = None) -> str | tuple[str, bool]:
    """The verdict line, where each target landed and what to do next."""
    record, detail = outcome.record, outcome.detail
    if record is None or detail is None:
        return ""  # refused or locked before it started: the error line on stderr says why
    took = format_duration(record.duration_s)
    where = "in place" if detail.in_place else f"into {detail.target}"
    what = f"snapshot {record.snapshot_id[:8]} ({format_when(record.snapshot_time)} UTC)" if record.snapshot_id \
        else "no snapshot"
    if detail.database is not None:
        return _database_lines(outcome, detail, what, took)
    if to_database is not None:  # stopped before a dump was chosen and vetted: no directory, nothing loaded
        return (f"{outcome.status.upper()} {outcome.policy}: loading a database dump from {what} into {to_database} "
                f"did not complete after {took}; nothing was loaded")
    if outcome.status is RunStatus.OK:
        lines = [f"OK {outcome.policy}: restored {what} {where}: {count_of(record.files, 'file')}, {format_size(record.bytes)} "
                 f"in {took}; every file verified against the backup manifest"]
        return "\n".join(lines + _landed(detail) + _next(detail))
    if outcome.exit_code == 4:  # restored, but not proven right: say so before anything else
        lines = [f"FAIL {outcome.policy}: {outcome.error}", f"  the data restored {where} is NOT verified"]
        lines += [f"  {problem}" for problem in detail.problems[1:6]]
        return "\n".join(lines + _landed(detail)), True
    if not record.snapshot_id:  # it stopped before a snapshot was chosen: restic never wrote a byte
        return f"{outcome.status.upper()} {outcome.policy}: restore did not start after {took}; nothing was written {where}"
    return f"{outcome.status.upper()} {outcome.policy}: restore of {what} did not complete after {took}; " \
           f"what was written {where} is incomplete"


def _database_lines(outcome, detail, what: str, took: str) -> str | tuple[str, bool]:
    """--to-database: what was loaded where, or that nothing (or not all) was."""
    loaded = detail.database
    if outcome.status is RunStatus.OK:
        return "\n".join([_loaded_line(outcome.policy, what, loaded, took)] + _next(detail))
    if outcome.exit_code == 4:
        return (f"FAIL {outcome.policy}: {outcome.error}\n  the dump of {loaded['database']} did not verify and was NOT "
                f"loaded into {loaded['loaded_into']}"), True
    left = "nothing was loaded (one transaction)" if loaded["kind"] == "postgres" else \
        "tables loaded before the failure stay"
    return (f"{outcome.status.upper()} {outcome.policy}: loading database {loaded['database']} from {what} into "
            f"{loaded['loaded_into']} did not complete after {took}; {left}")


def _loaded_line(policy: str, what: str, loaded: dict, took: str) -> str:
    into = loaded["loaded_into"]
    named = into if into == loaded["database"] else f"{loaded['database']} into {into}"
    return (f"OK {policy}: loaded database {named} from {what} on {loaded['connection']}: {count_of(loaded['tables'], 'table')}, "
            f"{count_of(loaded['rows'], 'row')} in {took}; the dump was verified against the backup manifest before loading")


def _landed(detail) -> list[str]:
    shown = [landing for landing in detail.landed if landing.restored != "no"]
    if not shown:
        return []
    lines = ["where each target is now:"]
    for landing in shown:
        part = " (only the --include paths)" if landing.restored == "part" else ""
        lines.append(f"  {landing.label} -> {landing.path}{part}")
    return lines


def _next(detail) -> list[str]:
    steps = [f"{landing.label}: {landing.put_back}" for landing in detail.landed
             if landing.restored != "no" and landing.put_back]
    steps += detail.next_steps
    if not steps:
        return []
    return ["next steps:"] + [f"  {n}. {step}" for n, step in enumerate(steps, 1)]
