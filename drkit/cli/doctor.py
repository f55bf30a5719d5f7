"""`drkit doctor`: check online that everything the policies rely on is there."""

from __future__ import annotations

import click

from drkit.cli.app import App, emit_result, json_option, pass_app
from drkit.core import errors


@click.command()
@click.argument("names", nargs=-1)
@json_option
@pass_app
def doctor(app: App, names: tuple[str, ...], as_json: bool) -> None:
    """Check what the policies (default: all) rely on, one line each with OK/WARN/FAIL and the fix:
    repository URL, DNS, TCP, TLS, credentials, bucket, clock skew, Object Lock, password source,
    the restic repository, restic itself, the state dir, sandbox space, schedule. Exit 0 no FAIL,
    1 a FAIL, 2 a policy file with problems."""
    from drkit.core.policy import scan_policies
    from drkit.views.doctor import diagnose

    app.require_policies_dir()
    scan = scan_policies([app.policies_dir])
    loaded, problems = scan.loaded, scan.problems
    broken = {problem.file for problem in problems}
    valid = [item for item in loaded if str(item.file) not in broken]
    unknown = [name for name in names if name not in {item.name for item in loaded}]
    if unknown:
        raise errors.UsageError(f"no policy named '{unknown[0]}' (known: {', '.join(i.name for i in loaded) or 'none'})")
    chosen = [item for item in valid if not names or item.name in names]
    diagnosis = diagnose(chosen, problems, app.state_dir)
    emit_result(diagnosis, as_json)
    raise SystemExit(diagnosis.exit_code)
