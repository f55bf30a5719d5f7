"""`drkit catalog …`: local catalog maintenance."""

from __future__ import annotations

import sys

import click

from drkit.cli.app import App, complete_policy, emit_document, err, json_option, pass_app
from drkit.core import errors


@click.group()
def catalog() -> None:
    """Local catalog maintenance."""


@catalog.command("rebuild")
@click.argument("names", nargs=-1, shell_complete=complete_policy)
@click.option("--repository", "repository", metavar="REPO", default=None,
              help="Rebuild from this repository and its bucket (a copy, when the first is lost). Default: the first.")
@json_option
@pass_app
def catalog_rebuild(app: App, names: tuple[str, ...], repository: str | None, as_json: bool) -> None:
    """Rebuild the local catalog from the repositories (snapshot listings) and the evidence in the
    buckets (records and signing keys), e.g. on a new host. Exit 4 when a record's signature fails."""
    from drkit.jobs.rebuild import rebuild

    items = [app.policy(n) for n in names] if names else app.policies
    result = rebuild(app.workspace, [i.policy for i in items], repository)
    if as_json:
        emit_document(result)
    else:
        for r in result.policies:
            # a policy that could not be refreshed is an error: its line goes to stderr, once
            if r.error is not None:
                err.print(r.line(), markup=False)
            else:
                click.echo(r.line())
            for problem in r.problems:
                err.print(f"  {problem}", markup=False)
    if result.failed:
        sys.exit(int(errors.ExitCode.ERROR))
    if result.has_problems:
        sys.exit(int(errors.ExitCode.VERIFY_FAILED))
