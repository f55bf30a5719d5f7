"""`drkit policy …`: validate, schema, explain."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from drkit.cli.app import App, complete_policy, emit_document, emit_json, err, json_option, pass_app
from drkit.core import errors
from drkit.core.policy import json_schema


@click.group()
def policy() -> None:
    """Validate, describe and explain policy files."""


@policy.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Warnings (a schedule that cannot meet the RPO) are errors: exit 2.")
@json_option
@pass_app
def policy_validate(app: App, paths: tuple[Path, ...], strict: bool, as_json: bool) -> None:
    """Check policy files (default: the policies directory); every problem as FILE:LINE: field: message."""
    from drkit.views.validation import validate_policies

    result = validate_policies(list(paths) or [app.policies_dir], app.state_dir, strict=strict)
    if as_json:
        emit_document(result)
    elif result.problems:
        raise errors.PolicyError(result.problems)
    else:
        for item in result.valid:
            click.echo(f"{item.file}: ok ({item.name})")
        for warning in result.warnings:
            err.print(f"{'error' if strict else 'warning'}: {warning}", markup=False)
    if not result.ok:
        sys.exit(int(errors.ExitCode.USAGE))


@policy.command("schema")
def policy_schema() -> None:
    """Print the JSON Schema of a policy file (for editors and CI)."""
    emit_json(json_schema())


@policy.command("explain")
@click.argument("name", shell_complete=complete_policy)
@json_option
@pass_app
def policy_explain(app: App, name: str, as_json: bool) -> None:
    """Show the resolved policy and whether its backup schedule can meet the RPO at all."""
    from drkit.views.explain import explain_policy

    explanation = explain_policy(app.workspace.catalog, app.policy(name))
    if as_json:
        emit_document(explanation)
        return
    import yaml
    click.echo(f"# {explanation.item.file}")
    click.echo(yaml.safe_dump(explanation.resolved, sort_keys=False).rstrip())
    click.echo(f"\nRPO feasibility: {explanation.feasibility.message}")
