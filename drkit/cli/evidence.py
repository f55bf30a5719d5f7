"""`drkit evidence …`: check the signed evidence records."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from drkit.cli.app import App, emit_document, err, json_option, pass_app
from drkit.core import errors


@click.group()
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
    from drkit.evidence.verify import verify

    if files and (all_ or remote):
        raise errors.UsageError("give record FILEs, or --all / --remote, not both")
    policies = [p.policy for p in app.policies] if (remote or app.policies_dir.is_dir()) else []
    report = verify(app.workspace, policies, files=list(files) or None, remote=remote)
    if as_json:
        emit_document(report)
    else:
        for problem in report.problems:
            err.print(problem, markup=False)
        click.echo(report.summary())
    if not report.ok:
        sys.exit(int(errors.ExitCode.VERIFY_FAILED))
