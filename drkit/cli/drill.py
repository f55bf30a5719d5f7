"""`drkit restore-drill`: restore, verify, time against the RTO."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from drkit.cli.app import App, complete_policy, finish_runs, json_option, out, pass_app, prometheus_option
from drkit.core.display import count_of, format_size
from drkit.core.durations import format_duration
from drkit.evidence.payloads import DrillMeasured, measured_if


@click.command("restore-drill")
@click.argument("name", shell_complete=complete_policy)
@click.option("--snapshot", default="latest", show_default=True, metavar="latest|random|ID|before:TIME",
              help="Which snapshot of the policy: the newest, a random one, an id (short or full), or the newest "
                   "taken before TIME (ISO date/datetime, UTC unless it names a zone, or a duration ago: before:2h).")
@click.option("--sandbox", type=click.Path(path_type=Path), default=None,
              help="Empty or new directory to restore into (default: a fresh <drill.sandbox>/<policy>-<time>).")
@click.option("--keep", is_flag=True, help="Keep the restored tree after a passing drill (never after a failure).")
@click.option("--repository", "repository", metavar="REPO", default=None,
              help="Drill from this repository of the policy (a copy; docs/repositories.md). Default: the first.")
@prometheus_option
@json_option
@pass_app
def restore_drill(app: App, name: str, snapshot: str, sandbox: Path | None, keep: bool, repository: str | None,
                  as_json: bool) -> None:
    """Restore a snapshot into a sandbox, verify it, run the policy's checks and time it against the RTO.

    Verdicts: PASS (exit 0), BREACH: verified but slower than the RTO (3), FAIL: data, manifest or a
    check wrong (4), ERROR: could not run (1; a refused sandbox or snapshot: 2). One signed evidence
    record per drill."""
    from drkit.cli.progress import RestoreProgressBar, shows_progress
    from drkit.jobs.drill.run import DrillRequest, Stopwatch, run_drill, verdict_of

    clock = Stopwatch()  # the recovery time runs from the request
    item = app.policy(name)
    with RestoreProgressBar(name, enabled=shows_progress(as_json)) as progress:
        request = DrillRequest(item.policy, item.file, snapshot, sandbox, keep, repository,
                               progress if progress.enabled else None)
        outcome = run_drill(app.workspace, request, clock)
    finish_runs([outcome], as_json, lambda o: _drill_lines(o, verdict_of(o), repository))


def _drill_lines(outcome, verdict: str, repository: str | None = None) -> str | tuple[str, bool]:
    """The phase table and the verdict line; a run refused or locked before it started is one error line."""
    if outcome.record is None:
        return f"{outcome.status.upper()} {outcome.policy}: drill did not run"
    import io

    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, highlight=False, soft_wrap=True, width=out.width).print(_drill_table(outcome.record))
    lines = [buffer.getvalue().rstrip("\n"), *_check_lines(outcome.record),
             _drill_line(outcome, verdict) + (f" from repository {repository}" if repository else "")]
    if outcome.detail is not None and outcome.detail.kept_sandbox:
        lines.append(f"restored tree kept in {outcome.detail.kept_sandbox}")
    more = outcome.detail.problems[1:] if verdict == "FAIL" and outcome.detail is not None else []
    lines += [f"  {problem}" for problem in more[:5]]
    if len(more) > 5:
        lines.append(f"  … {len(more) - 5} more in the evidence record (--json)")
    return "\n".join(lines), verdict != "ERROR"


def _drill_table(record) -> Table:
    table = Table("phase", "seconds", "MB/s", title=f"drill {record.policy}"
                  + (f" snapshot {record.snapshot_id[:8]}" if record.snapshot_id else ""))
    figures = measured_if(record, DrillMeasured)
    size = figures.bytes_restored if figures is not None and record.result in ("pass", "breach") else 0
    total = figures.rta_s if figures is not None else record.duration_s
    for phase, seconds in [*record.phases.items(), ("total", total)]:
        rate = f"{size / 1e6 / seconds:,.1f}" if phase in ("restore", "verify", "total") and seconds > 0 and size else ""
        table.add_row(phase, f"{seconds:.2f}", rate)
    return table


def _check_lines(record) -> list[str]:
    """What each check asked and got (a query's value: a row count, a checksum), one line each."""
    figures = measured_if(record, DrillMeasured)
    if figures is None or not figures.checks:
        return []
    lines = ["checks:"]
    for check in figures.checks:
        result = "ok" if check.get("passed") else ("ERROR" if check.get("error") else "FAIL")
        lines.append(f"  {result:<5} {check.get('seconds', 0):6.2f} s  {check.get('name')}: {check.get('detail', '')}")
    return lines


def _drill_line(outcome, verdict: str) -> str:
    r = outcome.record
    m = measured_if(r, DrillMeasured)
    rta, rto = (m.rta_s, m.rto_s) if m is not None else (r.duration_s, r.objectives.get("rto_s", 0))
    took = f"{rta:.0f} s" if rta >= 10 else f"{rta:.1f} s"
    budget = f"RTO {format_duration(rto)}, {100 * rta / rto:.1f} % of budget" if rto else "no RTO"
    if verdict in ("PASS", "BREACH"):
        return (f"{verdict} {r.policy}: recovered {format_size(r.bytes)} / {count_of(r.files, 'file')} in {took} ({budget})"
                + (f"; {count_of(m.changed_during_backup, 'file')} changed during backup, verified by restic only"
                   if m is not None and m.changed_during_backup else ""))
    if verdict == "FAIL":  # the verdict names what was wrong with the data
        return f"{verdict} {r.policy}: {outcome.error} (after {took})"
    return f"{verdict} {r.policy}: the drill could not complete (after {took})"  # the cause follows on stderr
