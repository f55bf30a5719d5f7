"""`drkit iam-policy`: print a least-privilege IAM policy for one drkit role."""

from __future__ import annotations

import json

import click

from drkit.cli.app import App, complete_policy, emit_document, json_option, pass_app
from drkit.views.iam_policy import ROLES


@click.command("iam-policy")
@click.argument("name", shell_complete=complete_policy)
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="backup: write, no delete; drill, audit: read; copy: read the first repository, write a copy.")
@click.option("--repository", "repository", metavar="REPO",
              help="The repository to scope to (default: the first; for copy, the copy written, default the second).")
@json_option
@pass_app
def iam_policy(app: App, name: str, role: str, repository: str | None, as_json: bool) -> None:
    """Print an AWS IAM policy document scoped to the repository's bucket and prefix
    (docs/immutability.md). Without --json, only the document: `> role.json` and attach it."""
    from drkit.views.iam_policy import build

    result = build(app.policy(name).policy, role, repository)
    if as_json:
        emit_document(result)
    else:
        click.echo(json.dumps(result.document, indent=2))
