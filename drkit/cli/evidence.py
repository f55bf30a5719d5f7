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
@click.option("--remote", is_flag=True, help="Check the copies in the buckets of the loaded policies instead (every "
                                              "repository's bucket on its own: each must hold the whole chain), and "
                                              "that none uploaded from here is missing.")
@click.option("--repository", metavar="REPO", help="With --remote: only this repository's bucket (e.g. the copy "
                                                   "left when the first is lost).")
@click.option("--report", "page", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE.html",
              help="Check a sealed HTML report instead: its embedded JSON model against its sha256 and the "
                   "host's signature over the whole page (docs/reports.md).")
@json_option
@pass_app
def evidence_verify(app: App, files: tuple[Path, ...], all_: bool, remote: bool, repository: str | None,
                    page: Path | None, as_json: bool) -> None:
    """Verify signatures and each policy's prev-chain: the local catalog, record FILEs (JSON as stored
    in the bucket) or, with --remote, the bucket copies; or, with --report, a sealed HTML report.
    Exit 4 naming each bad or missing record, or a report that was altered."""
    from drkit.evidence.verify import verify, verify_report_page

    if sum(bool(x) for x in (files, all_ or remote, page)) > 1:
        raise errors.UsageError("give record FILEs, --all / --remote, or --report FILE.html, one of them")
    if repository is not None and not remote:
        raise errors.UsageError("--repository goes with --remote (the bucket to check)")
    policies = [p.policy for p in app.policies] if (remote or app.policies_dir.is_dir()) else []
    if page is not None:
        report = verify_report_page(app.workspace, policies, page)
    else:
        report = verify(app.workspace, policies, files=list(files) or None, remote=remote, repository=repository)
    if as_json:
        emit_document(report)
    else:
        for problem in report.problems:
            err.print(problem, markup=False)
        click.echo(report.summary())
    if not report.ok:
        sys.exit(int(errors.ExitCode.VERIFY_FAILED))
