"""`drkit repo …`: init, audit and check a policy's repository."""

from __future__ import annotations

import click

from drkit.cli.app import (
    App,
    complete_policy,
    emit_document,
    emit_result,
    finish_runs,
    json_option,
    pass_app,
    prometheus_option,
)
from drkit.core import errors
from drkit.core.outcome import RunStatus


@click.group()
def repo() -> None:
    """Create and check repositories."""


@repo.command("init")
@click.argument("name", shell_complete=complete_policy)
@click.option("--repository", "repository", metavar="REPO", default=None,
              help="Only this repository of the policy. Default: every one; copies get the first's chunker parameters.")
@json_option
@pass_app
def repo_init(app: App, name: str, repository: str | None, as_json: bool) -> None:
    """Create the bucket and restic repository if absent (idempotent); report Object Lock state."""
    from drkit.jobs.repo_init import init_repository

    policy = app.policy(name).policy
    result = init_repository(app.workspace, policy, repository)
    if as_json:
        emit_document(result)
    else:
        for line in result.lines():
            click.echo(line)
    if result.failed:  # the repositories that worked are printed above; the first failure is the error
        raise result.failed[0][1]
    for missing in result.object_lock_missing_in:
        wanted = "require_object_lock" if policy.repository_named(missing.repository).require_object_lock else "lock_days"
        raise errors.BreachError(f"{name}: {policy.repository_field(wanted, missing.repository)} "
                                 f"{'is true' if wanted == 'require_object_lock' else 'is set'} but bucket "
                                 f"'{missing.bucket}' has no Object Lock",
                                 hint=f"turn it on (AWS, versioned bucket: aws s3api put-object-lock-configuration "
                                      f"--bucket {missing.bucket} --object-lock-configuration ObjectLockEnabled=Enabled; "
                                      f"providers that allow it only at creation: a new bucket), then: "
                                      f"drkit repo audit {name}")


@repo.command("audit")
@click.argument("name", shell_complete=complete_policy)
@click.option("--repository", "repository", metavar="REPO", help="Audit this repository of the policy (default: the first).")
@json_option
@pass_app
def repo_audit(app: App, name: str, repository: str | None, as_json: bool) -> None:
    """Check the bucket's immutability controls against the policy: versioning, Object Lock,
    retention of the newest snapshot's objects, public access block, encryption, lifecycle.
    A required control missing exits 3; an unreachable bucket exits 1 (docs/immutability.md)."""
    from drkit.views.immutability import audit_repository

    result = audit_repository(app.workspace, app.policy(name).policy, repository)
    emit_result(result, as_json)
    if result.missing:
        raise errors.BreachError(f"{name}: bucket '{result.bucket}' lacks required control(s): "
                                 f"{', '.join(result.missing)}",
                                 hint="see docs/immutability.md for how to set each one")


@repo.command("check")
@click.argument("name", shell_complete=complete_policy)
@click.option("--read-data-subset", "subset", metavar="P",
              help="Pack data to read: n/m, P%, all or none. Default: rotate n/12, so 12 checks read every pack.")
@prometheus_option
@json_option
@pass_app
def repo_check(app: App, name: str, subset: str | None, as_json: bool) -> None:
    """Check the repository's structure and read a subset of its pack data. Damage exits 4."""
    from drkit.jobs.repo_check import parse_subset, run_check

    try:
        chosen = parse_subset(subset) if subset is not None else None
    except ValueError as exc:
        raise errors.UsageError(str(exc)) from None
    outcome = run_check(app.workspace, app.policy(name).policy, subset=chosen)
    finish_runs([outcome], as_json, _check_line)


def _check_line(o) -> str:
    read = (o.detail.subset.arg or "none") if o.detail is not None else None
    if o.status is RunStatus.OK:
        return f"OK {o.policy}: repository check passed (read data subset {read})"
    problems = o.detail.problems[:20] if o.detail is not None else []
    return "\n".join([f"{o.status.upper()} {o.policy}: repository check" + (f" (read data subset {read})" if read else ""),
                      *(f"  {p}" for p in problems)])
