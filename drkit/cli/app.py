"""Shared CLI plumbing: the App context, consoles, JSON output and option decorators."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from drkit.core import errors
from drkit.core.discovery import Chosen, Places, choose_policies_dir, missing_policies_message
from drkit.core.jsonshape import JsonDocument, dumps

if TYPE_CHECKING:  # pydantic, the catalog and restic load when a command reads policies (docs/performance.md)
    from drkit.core.policy import LoadedPolicy, PolicyScan
    from drkit.engines.workspace import Workspace

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
    quiet: bool = False   # -q: stdout silenced (`silenced_stdout`), failures still reach stderr
    prometheus: Path | None = None   # --prometheus FILE / DRKIT_PROMETHEUS_TEXTFILE: refreshed after every run
    exit_floor: int = 0  # ExitCode.USAGE once a broken policy file was reported: the run exits at least 2
    policies_where: Chosen | None = None  # how the directories were found (`drkit policy where`)
    state_where: Chosen | None = None
    places: Places | None = None

    @classmethod
    def found(cls, policies: Chosen, state: Chosen, verbose: int, places: Places) -> "App":
        """The App of discovered directories (drkit/core/discovery.py); with no policies directory
        anywhere, commands that need one say where drkit looked."""
        return cls(policies.path or places.policy_dirs()[0], state.path or places.state_dirs()[0], verbose,
                   policies_where=policies, state_where=state, places=places)

    @property
    def policies(self) -> list[LoadedPolicy]:
        """The policies that load. A broken file is reported (its FILE:LINE lines on stderr) and
        skipped, so the others still run; the command then exits at least 2."""
        if self._policies is None:
            scan = self._scan()
            for problem in scan.problems:
                err.print(str(problem), markup=False)
            if scan.problems:
                self.exit_floor = errors.ExitCode.USAGE
            self._policies = scan.loaded
        return self._policies

    def reload_policies(self) -> list[LoadedPolicy]:
        """Read the policies directory again (the daemon's SIGHUP); PolicyError when a file is invalid."""
        scan = self._scan()
        if scan.problems:
            raise errors.PolicyError(scan.problems)
        return scan.loaded

    def _scan(self) -> PolicyScan:
        """Every file of the policies directory; UsageError when there is no policy at all, since
        an empty table and exit 0 would read as "all healthy"."""
        from drkit.core.policy import scan_policies

        self.require_policies_dir()
        scan = scan_policies([self.policies_dir])
        if not scan.loaded and scan.problems:
            raise errors.PolicyError(scan.problems)
        if not scan.loaded:
            raise errors.UsageError(f"no policies in {self.policies_dir}",
                                    hint="add a NAME.yaml policy file, or pass --policies DIR")
        return scan

    def require_policies_dir(self) -> None:
        if self.policies_dir.is_dir():
            return
        if self.policies_where is not None and self.policies_where.path is None:
            raise errors.UsageError(missing_policies_message(self.policies_where))
        if self.policies_dir.exists():  # a policy file given where its directory belongs
            raise errors.UsageError(f"policies directory {self.policies_dir} is a file, not a directory",
                                    hint=f"pass the directory that holds it: --policies {self.policies_dir.parent}")
        raise errors.UsageError(f"policies directory {self.policies_dir} does not exist",
                                hint="pass --policies DIR or set DRKIT_POLICIES")

    def policy(self, name: str) -> LoadedPolicy:
        from drkit.core.policy import find_policy

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
        from drkit.engines.workspace import Workspace

        return Workspace(self.state_dir)


pass_app = click.make_pass_decorator(App)


def write_output(path: Path, text: str, option: str = "-o FILE") -> None:
    """`-o FILE` (or `option`): written atomically; a place that cannot take it is one error line
    naming FILE (not the temporary file beside it, nor an internal error)."""
    from drkit.core.atomic import write_text_atomically

    try:
        write_text_atomically(path, text)
    except OSError as exc:
        raise errors.StateError("write", path, exc.strerror or str(exc),
                                hint=errors.hint_for(exc.errno, option) or f"choose another {option}") from None


def complete_policy(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of a policy name: the names in the policies directory (--policies or
    DRKIT_POLICIES as given on the line being completed); nothing when it cannot be read, since
    a completion must never print an error into the user's prompt."""
    from drkit.core.policy import scan_policies

    try:
        places = Places.of_this_process()
        chosen = choose_policies_dir(ctx.find_root().params.get("policies_dir"), os.environ.get("DRKIT_POLICIES"),
                                     places)
        directory = chosen.path
        scan = scan_policies([Path(directory)]) if directory is not None and Path(directory).is_dir() else None
    except Exception:  # noqa: BLE001 - see above
        return []
    return sorted(item.name for item in scan.loaded if item.name.startswith(incomplete)) if scan else []


@dataclass
class Invocation:
    """What `main()` needs back from a command run: the App, whose exit floor it applies."""

    app: App | None = None

    @property
    def exit_floor(self) -> int:
        return self.app.exit_floor if self.app is not None else 0


@contextlib.contextmanager
def silenced_stdout() -> Iterator[None]:
    """`-q`: everything a command prints on stdout (tables, result lines, JSON) goes nowhere, so a
    cron job that succeeds sends no mail; errors and failed runs' lines go to stderr (`finish_runs`)."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def quiet() -> bool:
    """Whether the running command was given `-q` (no click context: not quiet)."""
    ctx = click.get_current_context(silent=True)
    app = ctx.find_object(App) if ctx is not None else None
    return bool(app and app.quiet)


def _set_prometheus(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    app = ctx.find_object(App)
    if app is not None and value is not None:
        app.prometheus = value


prometheus_option = click.option(
    "--prometheus", type=click.Path(path_type=Path, dir_okay=False), envvar="DRKIT_PROMETHEUS_TEXTFILE",
    metavar="FILE", expose_value=False, callback=_set_prometheus,
    help="Refresh this node-exporter textfile after the run (env DRKIT_PROMETHEUS_TEXTFILE).")


def refresh_textfile(app: App) -> None:
    """After a job command's runs: rewrite the metrics textfile for every policy, if one was asked for."""
    if app.prometheus is None:
        return
    from drkit.evidence.records import now_utc
    from drkit.views.textfile import refresh

    refresh(app.workspace.catalog, app.workspace.state_dir, [item.policy for item in app.policies],
            app.prometheus, now_utc())


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def emit_json(data: Any) -> None:
    """Plain JSON that is not a result document (the policy JSON Schema, job results)."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def finish_runs(outcomes: list, as_json: bool, line, *, many: bool = False) -> None:
    """The end of every job command (backup, forget, repo check, restore-drill): one result line per
    run on stdout (or its JSON), warnings and the error once on stderr, exit with the worst code.
    Under `-q` only failed runs print: their line and error on stderr, nothing else — and the
    warnings of a run that raised a notice (a suspicious backup, docs/guard.md).

    `line(outcome)` is the command's result line; it names the cause itself when it returns a
    tuple (text, True), so the error is not printed again."""
    silent = quiet()
    ctx = click.get_current_context(silent=True)
    app = ctx.find_object(App) if ctx is not None else None
    if app is not None:
        refresh_textfile(app)
    if as_json and not silent:
        from drkit.jobs.lifecycle import RunList

        emit_document(RunList(tuple(outcomes)) if many else outcomes[0])
    else:
        for o in outcomes:
            if silent and o.exit_code == 0:
                for warning in o.warnings if o.notice else ():  # cron mails stderr: a suspicious backup must reach it
                    err.print(f"warning: {o.policy}: {warning}", markup=False)
                continue
            result = line(o)
            text, names_cause = result if isinstance(result, tuple) else (result, False)
            if text and silent:   # -q: a failed run's line is part of its error, on stderr
                err.print(text, markup=False)
            elif text:  # a run refused before it started has no result line: its error says it all
                click.echo(text)
            for warning in () if silent else o.warnings:
                err.print(f"warning: {o.policy}: {warning}", markup=False)
            if o.error is not None and not names_cause:
                err.print(f"drkit: error: {o.error}", markup=False)
    raise SystemExit(max((o.exit_code for o in outcomes), default=0))


def emit_document(result: JsonDocument) -> None:
    """A read command's `--json` output: the result's own document, schema id first (docs/json.md)."""
    click.echo(dumps(result), nl=False)


def emit_result(result: JsonDocument, as_json: bool) -> None:
    """A read command's result: its document with --json, else its text `lines()` (never cut)."""
    if as_json:
        emit_document(result)
        return
    for line in result.lines():  # type: ignore[attr-defined]
        click.echo(line)
