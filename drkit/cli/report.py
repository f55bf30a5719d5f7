"""`drkit report`: RPO/RTO attainment over a period."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import click

from drkit.cli.app import App, err, out, pass_app, write_output
from drkit.core import errors
from drkit.core.policy import LoadedPolicy
from drkit.evidence.records import now_utc
from drkit.views.report.formats import format_names, report_format


def _moment(ctx: click.Context, param: click.Parameter, value: str | None):
    from drkit.views.report.model import parse_moment

    try:
        return parse_moment(value) if value else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _refresh(app: App, items: list[LoadedPolicy]) -> list:
    """Refresh each policy; its error and problems are printed here, once, on stderr (the report
    itself only notes that the figures come from the local catalog)."""
    from drkit.jobs.rebuild import refresh_policy

    results = [refresh_policy(app.workspace, item.policy) for item in items]
    for r in results:
        if r.error is not None or r.problems:
            err.print(f"drkit: {r.line()}", markup=False)
            for problem in r.problems[:20]:
                err.print(f"  {problem}", markup=False)
    return results


class RegisteredChoice(click.Choice):
    """A click.Choice read from a registry when used, so formats of plug-ins loaded at start-up
    (drkit/plugins.py) are offered and listed in --help."""

    def __init__(self, names: Callable[[], list[str]]):
        self._names = names
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return tuple(self._names())

    @choices.setter
    def choices(self, value: object) -> None:
        pass  # click.Choice.__init__ assigns; the registry is the source


@click.command()
@click.option("--since", callback=_moment, metavar="D", help="Period start, ISO date/datetime, UTC if no zone "
              "(default: 30 days before --until).")
@click.option("--until", callback=_moment, metavar="D", help="Period end, exclusive (default: now).")
@click.option("--policy", "names", multiple=True, metavar="NAME", help="Only this policy (repeatable).")
@click.option("--format", "fmt", type=RegisteredChoice(format_names), default="table",
              show_default=True, help="A registered report format (docs/reports.md, docs/extending.md).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE "
              "(atomically) and print its path.")
@click.option("--refresh", is_flag=True, help="First list each policy's snapshots (its first repository) and import "
              "new evidence from that repository's bucket (every bucket holds every record, copy runs included).")
@click.option("--check", is_flag=True, help="Exit 3 when any policy missed its RPO or RTO in the period.")
@pass_app
def report(app: App, since, until, names: tuple[str, ...], fmt: str, output: Path | None, refresh: bool,
           check: bool) -> None:
    """RPO/RTO attainment over a period, from the local catalog (docs/reports.md)."""
    from drkit.views.report.gather import collect_report, in_force_starts
    from drkit.views.report.model import report_period, start_at_in_force

    now = now_utc()
    try:
        period, notes = report_period(since, until, now)
    except ValueError as exc:
        raise errors.UsageError(str(exc)) from None
    items = [app.policy(n) for n in names] if names else app.policies
    failed = []
    if refresh:
        failed = [r for r in _refresh(app, items) if r.error is not None]
        notes += [f"refresh of {r.policy} failed; its figures come from the local catalog" for r in failed]
    if since is None:
        period, started = start_at_in_force(period, in_force_starts(app.workspace.catalog, [i.policy for i in items]))
        notes += started
    result = collect_report(app.workspace.catalog, app.workspace.state_dir, [i.policy for i in items], period, now,
                            notes)
    form = report_format(fmt)
    text = form.render(result) if output is not None or form.terminal is None else ""
    if form.seal is not None:
        text = form.seal(text, app.workspace.key)
    if output is not None:
        write_output(output, text)
        click.echo(f"report written to {output.resolve()}")
    elif form.terminal is not None:
        out.print(form.terminal(result))
    else:
        click.echo(text, nl=False)
    if failed:
        sys.exit(int(errors.ExitCode.ERROR))
    if check and any(not (p.rpo_met and p.rto_met) for p in result.policies):
        sys.exit(int(errors.ExitCode.BREACH))


