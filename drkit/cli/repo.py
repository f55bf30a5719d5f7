"""`drkit repo …`: init and check a policy's repository."""

from __future__ import annotations

import sys

import click

from drkit.cli.app import App, emit_document, emit_json, err, json_option, pass_app
from drkit.core import errors


@click.group()
def repo() -> None:
    """Create and check repositories."""


@repo.command("init")
@click.argument("name")
@json_option
@pass_app
def repo_init(app: App, name: str, as_json: bool) -> None:
    """Create the bucket and restic repository if absent (idempotent); report Object Lock state."""
    from drkit.jobs.repo_init import init_repository

    result = init_repository(app.workspace, app.policy(name).policy)
    if as_json:
        emit_document(result)
    else:
        for line in result.lines():
            click.echo(line)
    if result.object_lock_missing:
        raise errors.BreachError(f"{name}: repository.require_object_lock is true but bucket "
                                 f"'{result.bucket}' has no Object Lock",
                                 hint="create a bucket with Object Lock enabled; it cannot be turned on later")


@repo.command("check")
@click.argument("name")
@click.option("--read-data-subset", "subset", metavar="P",
              help="Pack data to read: n/m, P%, all or none. Default: rotate n/12, so 12 checks read every pack.")
@json_option
@pass_app
def repo_check(app: App, name: str, subset: str | None, as_json: bool) -> None:
    """Check the repository's structure and read a subset of its pack data. Damage exits 4."""
    from drkit.daemon.jobs import run_notified
    from drkit.jobs.repo_check import parse_subset, run_check

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
