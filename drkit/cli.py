"""Command line: parse, call the library, render, pick the exit code. Nothing else lives here.

Exit codes: 0 done, every target met · 1 could not complete · 2 usage or policy error ·
3 objective breached · 4 verification failed · 5 another run of the policy holds the lock.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from . import __version__, errors
from .atomic import write_text_atomically
from .display import format_size, format_when
from .durations import format_duration
from .evidence import now_utc, utc_text
from .policy import LoadedPolicy, find_policy, json_schema, load_policies
from .workspace import Workspace, default_state_dir

EXIT_CODES = """\b
Exit codes:
  0  done, every target met
  1  could not complete (S3 unreachable, restic error, database down, ...)
  2  usage or policy error
  3  objective breached (RPO exposure > RPO, recovery time > RTO, drill overdue)
  4  verification failed (restored data wrong, check failed, repository damaged)
  5  another run of the same policy holds the lock"""

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class App:
    policies_dir: Path
    state_dir: Path
    verbose: int
    _policies: list[LoadedPolicy] | None = field(default=None, repr=False)

    @property
    def policies(self) -> list[LoadedPolicy]:
        if self._policies is None:
            if not self.policies_dir.is_dir():
                raise errors.UsageError(f"policies directory {self.policies_dir} does not exist",
                                        hint="pass --policies DIR or set DRKIT_POLICIES")
            self._policies = load_policies([self.policies_dir])
        return self._policies

    def policy(self, name: str) -> LoadedPolicy:
        return find_policy(self.policies, name)

    def select(self, names: tuple[str, ...], all_: bool) -> list[LoadedPolicy]:
        if all_ and names:
            raise errors.UsageError("give policy names or --all, not both")
        if all_:
            return self.policies
        if not names:
            raise errors.UsageError("name at least one policy, or pass --all")
        return [self.policy(n) for n in names]

    @cached_property
    def workspace(self) -> Workspace:
        return Workspace(self.state_dir)


pass_app = click.make_pass_decorator(App)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@click.group(epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="drkit")
@click.option("--policies", "policies_dir", type=click.Path(path_type=Path), envvar="DRKIT_POLICIES",
              default=Path("policies"), show_default=True, help="Directory of policy files (env DRKIT_POLICIES).")
@click.option("--state-dir", type=click.Path(path_type=Path), envvar="DRKIT_STATE_DIR", default=None,
              help="Local state: catalog, evidence key, locks (env DRKIT_STATE_DIR; default "
                   "~/.local/state/drkit, /var/lib/drkit for root).")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug and tracebacks).")
@click.pass_context
def cli(ctx: click.Context, policies_dir: Path, state_dir: Path | None, verbose: int) -> None:
    """drkit: scheduled restic backups to offsite S3, timed restore drills, and RPO/RTO reports."""
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), format="drkit: %(levelname)s: %(message)s")
    ctx.obj = App(policies_dir, state_dir or default_state_dir(), verbose)


# --- policy -------------------------------------------------------------------------------------

@cli.group()
def policy() -> None:
    """Validate, describe and explain policy files."""


@policy.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Warnings (a schedule that cannot meet the RPO) are errors: exit 2.")
@pass_app
def policy_validate(app: App, paths: tuple[Path, ...], strict: bool) -> None:
    """Check policy files (default: the policies directory); every problem as FILE:LINE: field: message."""
    loaded = load_policies(list(paths) or [app.policies_dir])
    for item in loaded:
        click.echo(f"{item.file}: ok ({item.name})")
    _schedule_warnings(app, loaded, strict)


@policy.command("schema")
def policy_schema() -> None:
    """Print the JSON Schema of a policy file (for editors and CI)."""
    emit_json(json_schema())


@policy.command("explain")
@click.argument("name")
@json_option
@pass_app
def policy_explain(app: App, name: str, as_json: bool) -> None:
    """Show the resolved policy and whether its backup schedule can meet the RPO at all."""
    from .feasibility import rpo_feasibility

    item = app.policy(name)
    durations = [r.duration_s for r in app.workspace.catalog.records(name, "backup") if r.result == "pass"]
    feas = rpo_feasibility(item.policy, durations)
    if as_json:
        emit_json({"file": str(item.file), "policy": item.policy.model_dump(mode="json"), "rpo_feasibility": feas.as_dict()})
        return
    import yaml
    click.echo(f"# {item.file}")
    click.echo(yaml.safe_dump(item.policy.model_dump(mode="json"), sort_keys=False).rstrip())
    click.echo(f"\nRPO feasibility: {feas.message}")


# --- repo ---------------------------------------------------------------------------------------

@cli.group()
def repo() -> None:
    """Create and check repositories."""


@repo.command("init")
@click.argument("name")
@json_option
@pass_app
def repo_init(app: App, name: str, as_json: bool) -> None:
    """Create the bucket and restic repository if absent (idempotent); report Object Lock state."""
    from .repository import init_repository

    result = init_repository(app.workspace, app.policy(name).policy)
    if as_json:
        emit_json(result.as_dict())
    else:
        for line in result.lines():
            click.echo(line)
    if result.object_lock_missing:
        raise errors.BreachError(f"{name}: repository.require_object_lock is true but bucket "
                                 f"'{result.bucket}' has no Object Lock",
                                 hint="create a bucket with Object Lock enabled; it cannot be turned on later")


# --- backup -------------------------------------------------------------------------------------

@cli.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Back up every policy.")
@json_option
@pass_app
def backup(app: App, names: tuple[str, ...], all_: bool, as_json: bool) -> None:
    """Back up policies now. One failing policy does not stop the others; the exit code is the worst."""
    from .backup import run_backup
    from .jobs import run_notified
    from .progress import BackupProgress

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


# --- snapshots, status --------------------------------------------------------------------------

@cli.command()
@click.argument("name")
@json_option
@pass_app
def snapshots(app: App, name: str, as_json: bool) -> None:
    """List a policy's snapshots (read from the repository, manual restic ones included)."""
    from .catalog import SnapshotRow

    item = app.policy(name)
    snaps = app.workspace.restic(item.policy).snapshots()
    app.workspace.catalog.replace_snapshots(name, [SnapshotRow(name, s.id, s.time, s.hostname, s.tags) for s in snaps])
    if as_json:
        emit_json([{"id": s.id, "short_id": s.short_id, "time": utc_text(s.time), "hostname": s.hostname,
                    "paths": s.paths, "tags": s.tags} for s in snaps])
        return
    table = Table("id", "time (UTC)", "host", "tags", "paths", title=f"{name}: {len(snaps)} snapshot(s)")
    for s in snaps:
        table.add_row(s.short_id, format_when(s.time), s.hostname, ",".join(s.tags),
                      ", ".join(s.paths))
    out.print(table)


@cli.command()
@json_option
@click.option("--prometheus", "prom_file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Also write a node-exporter textfile (atomically), e.g. /var/lib/node_exporter/drkit.prom.")
@pass_app
def status(app: App, as_json: bool, prom_file: Path | None) -> None:
    """Exposure now vs RPO, last drill vs RTO and drill age vs interval, per policy (local catalog only).

    Exit 3 when any policy's exposure exceeds its RPO, its last completed drill failed or was slower
    than the RTO, or no drill passed within 1.5 drill intervals (30 days without a drill schedule)."""
    from .report.table import status_table
    from .status import statuses

    now = now_utc()
    rows = statuses(app.workspace.catalog, app.workspace.state_dir, [i.policy for i in app.policies], now)
    if prom_file is not None:
        from .report.prometheus import render, write_textfile

        write_textfile(prom_file, render(rows, now.timestamp()))
    if as_json:
        emit_json([r.as_dict() for r in rows])
    else:
        out.print(status_table(rows))
    if any(r.breached for r in rows):
        sys.exit(int(errors.ExitCode.BREACH))


# --- restore-drill, evidence (drill) -----------------------------------------------------------

@cli.command("restore-drill")
@click.argument("name")
@click.option("--snapshot", default="latest", show_default=True, metavar="latest|random|ID",
              help="Which snapshot of the policy: the newest, a random one, or an id (short or full).")
@click.option("--sandbox", type=click.Path(path_type=Path), default=None,
              help="Empty or new directory to restore into (default: a fresh <drill.sandbox>/<policy>-<time>).")
@click.option("--keep", is_flag=True, help="Keep the restored tree after a passing drill (never after a failure).")
@json_option
@pass_app
def restore_drill(app: App, name: str, snapshot: str, sandbox: Path | None, keep: bool, as_json: bool) -> None:
    """Restore a snapshot into a sandbox, verify it, run the policy's checks and time it against the RTO.

    Verdicts: PASS (exit 0), BREACH: verified but slower than the RTO (3), FAIL: data, manifest or a
    check wrong (4), ERROR: could not run (1; a refused sandbox or snapshot: 2). One signed evidence
    record per drill."""
    from .drill import DrillRequest, Stopwatch, run_drill
    from .jobs import DrillResult, run_notified

    clock = Stopwatch()  # the recovery time runs from the request
    item = app.policy(name)
    request = DrillRequest(item.policy, item.file, snapshot, sandbox, keep)
    outcome = run_notified(item.policy, "drill", lambda: DrillResult(run_drill(app.workspace, request, clock))).drill
    if as_json:
        emit_json(outcome.record.body(with_signature=True))
    elif outcome.exit_code == errors.ExitCode.USAGE:  # refused before anything ran: one line, like usage errors
        err.print(f"drkit: error: {outcome.error}", markup=False)
    else:
        out.print(_drill_table(outcome.record))
        click.echo(_drill_line(outcome))
        if outcome.kept_sandbox:
            click.echo(f"restored tree kept in {outcome.kept_sandbox}")
    more = outcome.problems[1:] if outcome.verdict == "FAIL" and not as_json else []
    for problem in more[:5]:
        err.print(f"  {problem}", markup=False)
    if len(more) > 5:
        err.print(f"  … {len(more) - 5} more in the evidence record (--json)", markup=False)
    sys.exit(outcome.exit_code)


def _drill_table(record) -> Table:
    table = Table("phase", "seconds", "MB/s", title=f"drill {record.policy}"
                  + (f" snapshot {record.snapshot_id[:8]}" if record.snapshot_id else ""))
    size = record.measured.get("bytes_restored", 0) if record.result in ("pass", "breach") else 0
    total = record.measured.get("rta_s", record.duration_s)
    for phase, seconds in [*record.phases.items(), ("total", total)]:
        rate = f"{size / 1e6 / seconds:,.1f}" if phase in ("restore", "verify", "total") and seconds > 0 and size else ""
        table.add_row(phase, f"{seconds:.2f}", rate)
    return table


def _drill_line(outcome) -> str:
    r = outcome.record
    m = r.measured
    rta, rto = m.get("rta_s", r.duration_s), m.get("rto_s") or r.objectives.get("rto_s", 0)
    took = f"{rta:.0f} s" if rta >= 10 else f"{rta:.1f} s"
    budget = f"RTO {format_duration(rto)}, {100 * rta / rto:.1f} % of budget" if rto else "no RTO"
    if outcome.verdict in ("PASS", "BREACH"):
        return (f"{outcome.verdict} {r.policy}: recovered {format_size(r.bytes)} / {r.files:,} files in {took} ({budget})"
                + (f"; {m['changed_during_backup']} file(s) changed during backup, verified by restic only"
                   if m.get("changed_during_backup") else ""))
    return f"{outcome.verdict} {r.policy}: {outcome.error} (after {took})"


@cli.group()
def evidence() -> None:
    """Check the signed evidence records."""


@evidence.command("verify")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--all", "all_", is_flag=True, help="Every record of every policy in the local catalog (the default).")
@click.option("--remote", is_flag=True, help="Check the copies in the bucket(s) of the loaded policies instead, "
                                              "and that none uploaded from here is missing.")
@json_option
@pass_app
def evidence_verify(app: App, files: tuple[Path, ...], all_: bool, remote: bool, as_json: bool) -> None:
    """Verify signatures and each policy's prev-chain: the local catalog, record FILEs (JSON as stored
    in the bucket) or, with --remote, the bucket copies. Exit 4 naming each bad or missing record."""
    from .evidence_verify import verify

    if files and (all_ or remote):
        raise errors.UsageError("give record FILEs, or --all / --remote, not both")
    policies = [p.policy for p in app.policies] if (remote or app.policies_dir.is_dir()) else []
    report = verify(app.workspace, policies, files=list(files) or None, remote=remote)
    if as_json:
        emit_json(report.as_dict())
    else:
        for problem in report.problems:
            err.print(problem, markup=False)
        click.echo(report.summary())
    if not report.ok:
        sys.exit(int(errors.ExitCode.VERIFY_FAILED))



# --- scheduler, forget, repo check (scheduler) --------------------------------------------------

def _fresh_policies(app: App) -> list[LoadedPolicy]:
    """Read the policies directory again (SIGHUP reload); PolicyError when any file is invalid."""
    if not app.policies_dir.is_dir():
        raise errors.UsageError(f"policies directory {app.policies_dir} does not exist",
                                hint="pass --policies DIR or set DRKIT_POLICIES")
    return load_policies([app.policies_dir])


def _schedule_warnings(app: App, loaded: list[LoadedPolicy], strict: bool) -> None:
    """RPO feasibility (interval + p95 measured backup duration vs RPO): a warning, or exit 2 with --strict."""
    from .catalog import Catalog
    from .scheduler import feasibility_problems

    path = app.state_dir / "catalog.sqlite"
    catalog = Catalog(path) if path.exists() else None  # validating must not create a state directory
    try:
        problems = feasibility_problems(loaded, catalog)
    finally:
        if catalog is not None:
            catalog.close()
    for problem in problems:
        err.print(f"{'error' if strict else 'warning'}: {problem}", markup=False)
    if problems and strict:
        sys.exit(int(errors.ExitCode.USAGE))


@cli.group()
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
@pass_app
def scheduler_run(app: App, once: bool, max_parallel: int, jitter: float, grace: float, log_format: str) -> None:
    """Foreground daemon: backup, forget, check and drill jobs per each policy's `schedule`.

    \b
    On start a job whose last run is older than its interval runs once (catch-up).
    SIGHUP reloads the policies (an invalid set is logged and the old one kept).
    SIGTERM/SIGINT: stop scheduling, let the running job finish within --grace,
    then stop restic, record the run as interrupted and exit 0.
    """
    from .scheduler import Daemon, EventLog, Options

    daemon = Daemon(app.state_dir, lambda: _fresh_policies(app),
                    Options(once=once, max_parallel=max_parallel, jitter_s=jitter, grace_s=grace,
                            log_format=log_format), EventLog(log_format))
    sys.exit(daemon.run())


@scheduler.command("plan")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=7.0, show_default=True,
              help="How far ahead to look.")
@json_option
@pass_app
def scheduler_plan(app: App, days: float, as_json: bool) -> None:
    """Next runs per policy and job, as the scheduler computes them (a running one's own next runs)."""
    from datetime import timedelta

    from .scheduler import first_runs_now, job_specs, plan, published_first_runs

    specs = job_specs([item.policy for item in app.policies])
    firsts = first_runs_now(specs)
    published = published_first_runs(app.state_dir) or {}
    firsts.update({key: when for key, when in published.items() if key in firsts})
    now = now_utc()
    planned = plan(specs, firsts, now + timedelta(days=days))
    source = "running scheduler" if published else "a scheduler started now"
    if not specs and not as_json:
        err.print("no policy has a schedule section; nothing would run")
        return
    if as_json:
        emit_json({"generated_at": utc_text(now), "days": days, "source": source,
                   "jobs": [p.as_dict() for p in planned]})
        return
    table = Table("policy", "job", "schedule", "next run (UTC)", "then", f"runs in {days:g}d",
                  title=f"as computed by {source}")
    for p in planned:
        then = ", ".join(utc_text(t)[11:19] if t.date() == p.runs[0].date() else utc_text(t)[:16].replace("T", " ")
                         for t in p.runs[1:3])
        table.add_row(p.policy, p.job, p.phrase, format_when(p.next),
                      then, str(p.total))
    out.print(table)


@scheduler.command("install")
@click.option("--systemd", "kind", flag_value="systemd", help="drkit.service (daemon) plus a service + timer per job.")
@click.option("--cron", "kind", flag_value="cron", help="Crontab lines (phrases cron cannot express are errors).")
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Write the files into DIR instead of printing them.")
@click.option("--grace", type=click.FloatRange(0), default=30.0, show_default=True, metavar="SECONDS",
              help="The daemon's stop grace (sets TimeoutStopSec).")
@click.option("--jitter", type=click.FloatRange(0), default=0.0, metavar="SECONDS",
              help="RandomizedDelaySec= of the timers.")
@pass_app
def scheduler_install(app: App, kind: str | None, output: Path | None, grace: float, jitter: float) -> None:
    """Write systemd units or a crontab that run the same `drkit` commands on the policies' schedules."""
    from .scheduler import job_specs
    from .units import crontab, drkit_argv, systemd_units

    if kind is None:
        raise errors.UsageError("choose --systemd or --cron")
    specs = job_specs([item.policy for item in app.policies])
    base = drkit_argv(app.policies_dir, app.state_dir)
    if kind == "cron":
        files = {"drkit.crontab": crontab(specs, base)}
    else:
        files = {unit.name: unit.text for unit in systemd_units(specs, base, grace_s=grace, jitter_s=jitter)}
    if output is None:
        for name, text in files.items():
            click.echo(text if len(files) == 1 else f"# ---- {name} ----\n{text}")
        return
    output.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_text_atomically(output / name, text)
        click.echo(f"wrote {output / name}")
    click.echo("next: see docs/scheduling.md (systemctl enable --now drkit.service, or the drkit-*.timer units; "
               "crontab for cron)")


@cli.command()
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Show what would be kept and removed; change nothing.")
@json_option
@pass_app
def forget(app: App, name: str, dry_run: bool, as_json: bool) -> None:
    """Apply the policy's retention (restic forget, then prune) to this policy's snapshots only.

    Refuses (exit 3) when the newest backup failed or no snapshot is younger than the RPO,
    and (exit 2) when the policy has no retention section.
    """
    from .jobs import run_notified
    from .retention import run_forget

    item = app.policy(name)
    if dry_run:
        outcome = run_forget(app.workspace, item.policy, dry_run=True)
    else:
        outcome = run_notified(item.policy, "forget", lambda: run_forget(app.workspace, item.policy))
    result = outcome.result
    if as_json:
        emit_json({"policy": name, "status": outcome.status, "dry_run": dry_run, "exit_code": outcome.exit_code,
                   "kept": result.kept if result else None, "removed": result.removed if result else None,
                   "pruned": outcome.pruned, "error": str(outcome.error) if outcome.error else None,
                   "record": outcome.record.body(with_signature=True) if outcome.record else None})
    elif result is not None:
        verb = ("would keep", "would remove") if dry_run else ("kept", "removed")
        click.echo(f"{'DRY RUN' if dry_run else 'OK'} {name}: {verb[0]} {len(result.kept)}, {verb[1]} "
                   f"{len(result.removed)} snapshot(s)" + ("" if dry_run else "; pruned"))
        for sid in result.removed:
            click.echo(f"  {verb[1]} {sid[:8]}")
    else:
        click.echo(f"{'REFUSED' if outcome.status == 'breach' else outcome.status.upper()} {name}: forget did not run")
    if outcome.error and not as_json:
        err.print(f"drkit: error: {outcome.error}", markup=False)
    sys.exit(outcome.exit_code)


@repo.command("check")
@click.argument("name")
@click.option("--read-data-subset", "subset", metavar="P",
              help="Pack data to read: n/m, P%, all or none. Default: rotate n/12, so 12 checks read every pack.")
@json_option
@pass_app
def repo_check(app: App, name: str, subset: str | None, as_json: bool) -> None:
    """Check the repository's structure and read a subset of its pack data. Damage exits 4."""
    from .integrity import parse_subset, run_check
    from .jobs import run_notified

    try:
        chosen = parse_subset(subset) if subset is not None else None
    except ValueError as exc:
        raise errors.UsageError(str(exc)) from None
    item = app.policy(name)
    outcome = run_notified(item.policy, "check", lambda: run_check(app.workspace, item.policy, subset=chosen))
    read = outcome.subset.arg or "none" if outcome.subset else None
    if as_json:
        emit_json({"policy": name, "status": outcome.status, "exit_code": outcome.exit_code, "read_data_subset": read,
                   "problems": outcome.problems or [], "error": str(outcome.error) if outcome.error else None,
                   "record": outcome.record.body(with_signature=True) if outcome.record else None})
    elif outcome.status == "ok":
        click.echo(f"OK {name}: repository check passed (read data subset {read})")
    else:
        click.echo(f"{outcome.status.upper()} {name}: repository check" + (f" (read data subset {read})" if read else ""))
        for problem in (outcome.problems or [])[:20]:
            click.echo(f"  {problem}")
    if outcome.error and not as_json:
        err.print(f"drkit: error: {outcome.error}", markup=False)
    sys.exit(outcome.exit_code)



# --- report, catalog rebuild, runbook (reports) -------------------------------------------------

def _moment(ctx: click.Context, param: click.Parameter, value: str | None):
    from .report.model import parse_moment

    try:
        return parse_moment(value) if value else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _refresh(app: App, items: list[LoadedPolicy]) -> list:
    from .rebuild import refresh_policy

    results = [refresh_policy(app.workspace, item.policy) for item in items]
    for r in results:
        if r.error is not None or r.problems:
            err.print(f"drkit: {r.line()}", markup=False)
            for problem in r.problems[:20]:
                err.print(f"  {problem}", markup=False)
    return results


@cli.command()
@click.option("--since", callback=_moment, metavar="D", help="Period start, ISO date/datetime, UTC if no zone "
              "(default: 30 days before --until).")
@click.option("--until", callback=_moment, metavar="D", help="Period end, exclusive (default: now).")
@click.option("--policy", "names", multiple=True, metavar="NAME", help="Only this policy (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "html"]), default="table",
              show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE "
              "(atomically) and print its path.")
@click.option("--refresh", is_flag=True, help="First list the repositories' snapshots and import new evidence "
              "from the buckets.")
@click.option("--check", is_flag=True, help="Exit 3 when any policy missed its RPO or RTO in the period.")
@pass_app
def report(app: App, since, until, names: tuple[str, ...], fmt: str, output: Path | None, refresh: bool,
           check: bool) -> None:
    """RPO/RTO attainment over a period, from the local catalog (design section 6; docs/reports.md)."""
    from .report.gather import collect_report
    from .report.model import report_period

    now = now_utc()
    try:
        period, notes = report_period(since, until, now)
    except ValueError as exc:
        raise errors.UsageError(str(exc)) from None
    items = [app.policy(n) for n in names] if names else app.policies
    failed = []
    if refresh:
        failed = [r for r in _refresh(app, items) if r.error is not None]
        notes += [f"refresh of {r.policy} failed ({r.error}); its figures come from the local catalog" for r in failed]
    result = collect_report(app.workspace.catalog, app.workspace.state_dir, [i.policy for i in items], period, now,
                            notes)
    if output is not None:
        write_text_atomically(output, _render_report(result, fmt))
        click.echo(f"report written to {output.resolve()}")
    elif fmt == "table":
        from .report.table import render

        out.print(render(result))
    else:
        click.echo(_render_report(result, fmt), nl=False)
    if failed:
        sys.exit(int(errors.ExitCode.ERROR))
    if check and any(not (p.rpo_met and p.rto_met) for p in result.policies):
        sys.exit(int(errors.ExitCode.BREACH))


def _render_report(result, fmt: str) -> str:
    """The report as text; a table is rendered without colour, 160 columns wide, for a file."""
    if fmt == "json":
        from .report.as_json import render
    elif fmt == "csv":
        from .report.as_csv import render
    elif fmt == "html":
        from .report.html import render
    else:
        import io

        from .report.table import render as table_render

        console = Console(record=True, width=160, file=io.StringIO(), highlight=False)
        console.print(table_render(result))
        return console.export_text()
    return render(result)


@cli.group()
def catalog() -> None:
    """Local catalog maintenance."""


@catalog.command("rebuild")
@click.argument("names", nargs=-1)
@json_option
@pass_app
def catalog_rebuild(app: App, names: tuple[str, ...], as_json: bool) -> None:
    """Rebuild the local catalog from the repositories (snapshot listings) and the evidence in the
    buckets (records and signing keys), e.g. on a new host. Exit 4 when a record's signature fails."""
    from .rebuild import rebuild

    items = [app.policy(n) for n in names] if names else app.policies
    results = rebuild(app.workspace, [i.policy for i in items])
    if as_json:
        emit_json([{"policy": r.policy, "snapshots": r.snapshots, "evidence_objects": r.objects,
                    "records_added": r.added, "keys": r.keys, "problems": r.problems,
                    "error": str(r.error) if r.error else None} for r in results])
    else:
        for r in results:
            click.echo(r.line())
            for problem in r.problems:
                err.print(f"  {problem}", markup=False)
    if any(r.error is not None for r in results):
        sys.exit(int(errors.ExitCode.ERROR))
    if any(r.problems for r in results):
        sys.exit(int(errors.ExitCode.VERIFY_FAILED))


@cli.command()
@click.argument("name")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE (atomically).")
@pass_app
def runbook(app: App, name: str, output: Path | None) -> None:
    """Recovery runbook (Markdown) from the policy and the measured figures: contacts, snapshots,
    restic commands, where each target is in the restore, expected recovery time."""
    from .runbook import render
    from .status import policy_status

    item = app.policy(name)
    now = now_utc()
    catalog = app.workspace.catalog
    state = policy_status(catalog, app.workspace.state_dir, item.policy, now)
    manifest = state.last_backup.measured.get("manifest") if state.last_backup else None
    staging = Path(manifest).parent if manifest else app.workspace.state_dir / "staging" / name
    text = render(item.policy, item.file, state, catalog.snapshots(name), staging, now)
    if output is None:
        click.echo(text, nl=False)
        return
    write_text_atomically(output, text)
    click.echo(f"runbook written to {output.resolve()}")



# --- entry point --------------------------------------------------------------------------------

def _on_sigterm(signum, frame) -> None:  # noqa: ARG001
    """Stop restic children, then unwind as Interrupted so the run is recorded as interrupted."""
    from .restic import terminate_running

    terminate_running(grace=10)
    raise errors.Interrupted(f"stopped by signal {signal.Signals(signum).name}")


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    verbose = any(a in ("-vv", "-vvv") for a in (argv or sys.argv[1:]))
    try:
        cli.main(args=argv, prog_name="drkit", standalone_mode=False)
    except click.exceptions.Abort:
        err.print("drkit: aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except errors.PolicyError as exc:
        for problem in exc.problems:
            err.print(problem, markup=False)
        sys.exit(int(exc.exit_code))
    except errors.DrkitError as exc:
        err.print(f"drkit: error: {exc}", markup=False)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        from .restic import terminate_running

        terminate_running(grace=5)
        err.print("drkit: interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - never a traceback for users; -vv shows it
        if verbose:
            raise
        err.print(f"drkit: internal error: {type(exc).__name__}: {exc} (rerun with -vv for details)", markup=False)
        sys.exit(1)
