"""Command line: thin click commands over the library (one module per command group); `main()`
turns every typed error into its one-line message and exit code.

Exit codes: 0 done, every target met · 1 could not complete · 2 usage or policy error ·
3 objective breached · 4 verification failed · 5 another run of the policy holds the lock.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from pathlib import Path

import click

from drkit import __version__
from drkit.cli.app import EXIT_CODES, App, Invocation, err, silenced_stdout
from drkit.cli.lazy import LazyCommand, LazyGroup
from drkit.core import errors, logs
from drkit.core.discovery import Places, choose_policies_dir, choose_state_dir
from drkit.engines.privacy import PRIVATE_UMASK
from drkit.plugins import load_plugins

# name -> where the command lives and the summary `drkit --help` shows (drkit/cli/lazy.py; a new
# command adds one line here)
COMMANDS: dict[str, LazyCommand] = {
    "backup": LazyCommand("drkit.cli.backup:backup", "Back up policies now."),
    "catalog": LazyCommand("drkit.cli.catalog:catalog", "Local catalog maintenance."),
    "copy": LazyCommand("drkit.cli.copy:copy", "Copy the policy's snapshots from its first repository to the others "
                        "(restic copy)."),
    "completion": LazyCommand("drkit.cli.completion:completion", "Print the completion script for SHELL."),
    "doctor": LazyCommand("drkit.cli.doctor:doctor", "Check what the policies (default: all) rely on, one line each "
                          "with OK/WARN/FAIL and the fix: repository URL, DNS, TCP, TLS, credentials, bucket, clock "
                          "skew, Object Lock, password source, the restic repository, restic itself, the state dir, "
                          "sandbox space, schedule."),
    "dump": LazyCommand("drkit.cli.browse:dump", "Write one file of a snapshot to stdout, as in `drkit dump shop "
                                                 "latest /etc/shop.conf > shop.conf`."),
    "evidence": LazyCommand("drkit.cli.evidence:evidence", "Check the signed evidence records."),
    "forget": LazyCommand("drkit.cli.forget:forget", "Apply the policy's retention (restic forget, then prune) to "
                          "its snapshots in every repository."),
    "iam-policy": LazyCommand("drkit.cli.iam:iam_policy", "Print an AWS IAM policy document scoped to the "
                              "repository's bucket and prefix (docs/immutability.md)."),
    "keys": LazyCommand("drkit.cli.keys:keys", "Key escrow: repository passwords sealed to recovery keys (age), kept "
                        "in each bucket."),
    "ls": LazyCommand("drkit.cli.browse:ls", "List what a snapshot holds at and below PATH (an absolute path as "
                      "backed up), as a tree with sizes and modification times (UTC)."),
    "policy": LazyCommand("drkit.cli.policy:policy", "Validate, describe and explain policy files."),
    "postmortem": LazyCommand("drkit.cli.postmortem:postmortem", "Post-mortem skeleton (Markdown) from a drill's "
                              "signed evidence: timeline of its phases, errors, the objective exceeded and by how "
                              "much, earlier drills; sections for root cause and actions."),
    "repo": LazyCommand("drkit.cli.repo:repo", "Create and check repositories."),
    "report": LazyCommand("drkit.cli.report:report", "RPO/RTO attainment over a period, from the local catalog "
                          "(docs/reports.md)."),
    "restore": LazyCommand("drkit.cli.restore:restore", "Restore a snapshot into a directory, verify every restored "
                           "file against the backup manifest, and record signed evidence; or, with --to-database, "
                           "load one database dump (verified first) into a running server."),
    "restore-drill": LazyCommand("drkit.cli.drill:restore_drill", "Restore a snapshot into a sandbox, verify it, run "
                                 "the policy's checks and time it against the RTO."),
    "runbook": LazyCommand("drkit.cli.runbook:runbook", "Recovery runbook from the policy and the measured figures: "
                           "contacts, snapshots, restore and restic commands, where each target is in the restore, "
                           "checks as commands, expected recovery time."),
    "scheduler": LazyCommand("drkit.cli.scheduler:scheduler", "Run every policy's jobs on their schedules, show the "
                             "plan, or install systemd/cron units."),
    "snapshots": LazyCommand("drkit.cli.snapshots:snapshots", "List a policy's snapshots (read from the repository, "
                             "manual restic ones included)."),
    "status": LazyCommand("drkit.cli.status:status", "Exposure now vs RPO, last drill vs RTO and drill age vs "
                          "interval, per policy (local catalog only)."),
}


@click.group(cls=LazyGroup, lazy=COMMANDS, epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="drkit")
@click.option("--policies", "policies_dir", type=click.Path(path_type=Path), default=None,
              help="Directory of policy files (env DRKIT_POLICIES; default: ./policies if it exists, else "
                   "~/.config/drkit/policies, else /etc/drkit/policies; `drkit policy where` shows the choice).")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None,
              help="Local state: catalog, evidence key, locks (env DRKIT_STATE_DIR; default: the existing one of "
                   "~/.local/state/drkit and /var/lib/drkit, root looking at /var/lib/drkit first).")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug and tracebacks).")
@click.option("-q", "--quiet", is_flag=True,
              help="Nothing on success, errors only (on stderr): for cron, which mails any output.")
@click.pass_context
def cli(ctx: click.Context, policies_dir: Path | None, state_dir: Path | None, verbose: int, quiet: bool) -> None:
    """drkit: scheduled restic backups to offsite S3, timed restore drills, and RPO/RTO reports."""
    if quiet and verbose:
        raise errors.UsageError("give -q or -v, not both")
    logs.configure(-1 if quiet else verbose)
    if logs.under_journal():
        err.file = logs.JournalStream()   # `journalctl -p err -u drkit-…` finds the one-line errors
    if quiet:
        ctx.with_resource(silenced_stdout())
    load_plugins()  # before any policy is read: plug-ins register kinds (docs/extending.md)
    places = Places.of_this_process()
    app = App.found(choose_policies_dir(policies_dir, os.environ.get("DRKIT_POLICIES"), places),
                    choose_state_dir(state_dir, os.environ.get("DRKIT_STATE_DIR"), places), verbose, places)
    app.quiet = quiet
    ctx.ensure_object(Invocation).app = app  # main() applies the app's exit floor
    ctx.obj = app



def _on_sigterm(signum, frame) -> None:  # noqa: ARG001
    """Stop restic and other children, then unwind as Interrupted so the run is recorded as interrupted."""
    from drkit.engines import process

    process.terminate_running(grace=10)  # restic (SIGINT) and every other child (its group)
    raise errors.Interrupted(f"stopped by signal {signal.Signals(signum).name}")


OUTPUT_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})  # writing stdout fails for want of room


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    invocation = Invocation()
    umask = os.umask(PRIVATE_UMASK)  # the state dir's files, restic's cache, SQLite's -wal: owner only
    try:
        code = _run(argv, invocation)
    finally:
        os.umask(umask)
    sys.exit(max(code, invocation.exit_floor))


def _run(argv: list[str] | None, invocation: Invocation) -> int:
    """Run one command; its exit code, with every typed error printed as its one-line message."""
    verbose = any(a in ("-vv", "-vvv") for a in (argv or sys.argv[1:]))
    try:
        code = cli.main(args=argv, prog_name="drkit", standalone_mode=False, obj=invocation)
        return code if isinstance(code, int) else 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        raise
    except click.exceptions.Abort:
        err.print("drkit: aborted")
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except errors.PolicyError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False)
        return int(exc.exit_code)
    except errors.DrkitError as exc:
        err.print(f"drkit: error: {exc}", markup=False)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        from drkit.engines import process

        process.terminate_running(grace=5)
        err.print("drkit: interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - never a traceback for users; -vv shows it
        if verbose:
            raise
        if isinstance(exc, OSError) and exc.filename is None and exc.errno in OUTPUT_FULL:
            # `drkit report > /full/disk/x`: the output could not be written; the device says why
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            err.print(f"drkit: error: cannot write the output: {exc.strerror} (free space where it goes, or send "
                      "it elsewhere, and rerun)", markup=False)
            return int(errors.ExitCode.ERROR)
        err.print(f"drkit: internal error: {type(exc).__name__}: {exc} (rerun with -vv for details)", markup=False)
        return 1
