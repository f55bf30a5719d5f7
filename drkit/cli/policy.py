"""`drkit policy …`: validate, schema, explain."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from drkit.cli.app import App, emit_json, err, json_option, pass_app
from drkit.core import errors
from drkit.core.policy import LoadedPolicy, json_schema, load_policies


@click.group()
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
    from drkit.core.feasibility import rpo_feasibility

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


def _schedule_warnings(app: App, loaded: list[LoadedPolicy], strict: bool) -> None:
    """RPO feasibility (interval + p95 measured backup duration vs RPO): a warning, or exit 2 with --strict."""
    from drkit.daemon.scheduler import feasibility_problems
    from drkit.engines.catalog import Catalog

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
