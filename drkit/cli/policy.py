"""`drkit policy …`: validate, schema, explain."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import click

from drkit.cli.app import App, complete_policy, emit_document, emit_json, emit_result, err, json_option, pass_app
from drkit.core import errors
from drkit.core.discovery import Chosen
from drkit.core.jsonshape import JsonDocument
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


@dataclass(frozen=True)
class Whereabouts(JsonDocument, schema="drkit.policy-where/1"):
    """Which policies directory and state directory drkit uses, and why (drkit/core/discovery.py)."""

    policies: Chosen
    state_dir: Chosen

    def json_fields(self) -> dict:
        return {"policies": self.policies.as_dict() | {"exists": _is_dir(self.policies.path)},
                "state_dir": self.state_dir.as_dict() | {"exists": _is_dir(self.state_dir.path)}}

    def lines(self) -> list[str]:
        return [f"{label:<10} " + (f"{chosen.path}{'' if _is_dir(chosen.path) else ' (does not exist yet)'}: "
                                   if chosen.path else "none found: ") + chosen.reason
                for label, chosen in (("policies", self.policies), ("state dir", self.state_dir))]


def _is_dir(path: Path | None) -> bool:
    return path is not None and path.is_dir()


@policy.command("where")
@json_option
@pass_app
def policy_where(app: App, as_json: bool) -> None:
    """Show which policies directory and state directory drkit uses, and why: --policies/--state-dir,
    DRKIT_POLICIES/DRKIT_STATE_DIR, else ./policies, ~/.config/drkit/policies, /etc/drkit/policies
    (state: ~/.local/state/drkit, /var/lib/drkit)."""
    assert app.policies_where is not None and app.state_where is not None
    emit_result(Whereabouts(app.policies_where, app.state_where), as_json)


@policy.command("new")
@click.argument("name")
@click.option("--url", help="The repository, s3:https://HOST[:PORT]/BUCKET/PREFIX (default: a placeholder to edit).")
@click.option("--path", "paths", multiple=True, type=click.Path(path_type=Path), help="A path to back up; repeatable.")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Use this existing password file, or create the new one here (default: "
                   "<policies dir>/../keys/NAME.pass).")
@pass_app
def policy_new(app: App, name: str, url: str | None, paths: tuple[Path, ...], password_file: Path | None) -> None:
    """Write a commented starter policy NAME.yaml into the policies directory and a new random
    repository password (32 bytes) in a 0600 file; nothing existing is ever overwritten."""
    from drkit.evidence.records import now_utc
    from drkit.views.starter import write_new_policy

    where = app.policies_where
    directory = app.policies_dir if where is None or where.path is not None else app.places.new_policy_dir()  # type: ignore[union-attr]
    new = write_new_policy(directory, name, url=url, paths=list(paths), now=now_utc(), password_file=password_file)
    click.echo(f"wrote {new.policy_file.absolute()}: a starter policy; edit what says EDIT")
    for path in new.missing_paths:
        err.print(f"drkit: warning: --path {path} does not exist on this host; a backup fails until it does",
                  markup=False)
    if new.password_created:
        click.echo(f"wrote {new.password_file}: a new random repository password (0600)")
        click.echo(f"KEEP A COPY of {new.password_file} OFF THIS HOST (a password manager, a sealed envelope): "
                   "without it nobody can read these backups.")
    else:
        click.echo(f"the policy uses the existing password file {new.password_file}")
    if where is not None and where.path is None:
        click.echo(f"drkit finds {directory} by itself from now on (drkit policy where)")
    click.echo(f"next: drkit policy validate && drkit doctor {name} && drkit repo init {name}")
