"""Shared CLI plumbing: the App context, consoles, JSON output and option decorators."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from drkit.core import errors
from drkit.core.discovery import Chosen, Places, missing_policies_message
from drkit.core.jsonshape import JsonDocument, dumps
from drkit.core.policy import LoadedPolicy, find_policy, load_policies
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
        if self._policies is None:
            self._policies = self.reload_policies()
        return self._policies

    def reload_policies(self) -> list[LoadedPolicy]:
        """Read the policies directory again (the daemon's SIGHUP); PolicyError when a file is invalid."""
        self.require_policies_dir()
        return load_policies([self.policies_dir])

    def require_policies_dir(self) -> None:
        if self.policies_dir.is_dir():
            return
        if self.policies_where is not None and self.policies_where.path is None:
            raise errors.UsageError(missing_policies_message(self.policies_where))
        raise errors.UsageError(f"policies directory {self.policies_dir} does not exist",
                                hint="pass --policies DIR or set DRKIT_POLICIES")

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
    """Plain JSON that is not a result document (the policy JSON Schema, job results)."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def finish_runs(outcomes: list, as_json: bool, line, *, many: bool = False) -> None:
    """The end of every job command (backup, forget, repo check, restore-drill): one result line per
    run on stdout (or its JSON), warnings and the error once on stderr, exit with the worst code.

    `line(outcome)` is the command's result line; it names the cause itself when it returns a
    tuple (text, True), so the error is not printed again."""
    if as_json:
        from drkit.jobs.lifecycle import RunList

        emit_document(RunList(tuple(outcomes)) if many else outcomes[0])
    else:
        for o in outcomes:
            result = line(o)
            text, names_cause = result if isinstance(result, tuple) else (result, False)
            if text:  # a run refused before it started has no result line: its error says it all
                click.echo(text)
            for warning in o.warnings:
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
