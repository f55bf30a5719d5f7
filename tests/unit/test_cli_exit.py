"""Exit codes a script relies on (README, "Exit codes"): a job command over several policies exits
with the worst run's code, and `drkit status` exits 3 on a breach, with or without --json."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_builders import History

from drkit.cli import cli
from drkit.cli.app import finish_runs
from drkit.core import errors
from drkit.core.outcome import RunStatus
from drkit.evidence.records import now_utc
from drkit.jobs.lifecycle import RunOutcome

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def outcome(policy: str, status: RunStatus, error: errors.DrkitError | None = None) -> RunOutcome:
    return RunOutcome(policy, "backup", status, error, None, T0, T0 + timedelta(seconds=1))


OK = ("ok", RunStatus.OK, None)
FAILED = ("down", RunStatus.FAILED, errors.Unreachable("S3 at http://127.0.0.1:9 is unreachable"))
WRONG = ("wrong", RunStatus.FAILED, errors.VerificationError("restored data differs"))
LOCKED = ("busy", RunStatus.LOCKED, errors.LockedError("busy: already running"))


@pytest.mark.parametrize("runs, code", [
    ([OK, FAILED], 1),            # the first run's code would be 0
    ([FAILED, WRONG, OK], 4),
    ([LOCKED, OK], 5),
    ([OK, OK], 0),
])
@pytest.mark.parametrize("as_json", [False, True])
def test_a_job_command_over_several_policies_exits_with_the_worst_code(runs, code, as_json, capsys):
    outcomes = [outcome(*run) for run in runs]
    with pytest.raises(SystemExit) as ended:
        finish_runs(outcomes, as_json, lambda o: f"{o.status} {o.policy}", many=True)
    assert ended.value.code == code
    printed = capsys.readouterr()
    if as_json:
        document = json.loads(printed.out)
        assert [run["exit_code"] for run in document["runs"]] == [o.exit_code for o in outcomes]
    else:
        assert printed.out.splitlines() == [f"{o.status} {o.policy}" for o in outcomes]
        errors_printed = [ln for ln in printed.err.splitlines() if ln.startswith("drkit: error: ")]
        assert errors_printed == [f"drkit: error: {o.error}" for o in outcomes if o.error is not None]


POLICY = """\
version: 1
name: db
objectives: {rpo: 25h, rto: 4h}
targets: [{path: /srv/data}]
repository: {url: "s3:http://127.0.0.1:9/bucket/db", password_file: /etc/pw}
"""


def status_of(tmp_path: Path, backup_age: timedelta, *args: str):
    """`drkit status` over a catalog whose one backup finished `backup_age` ago, drilled since."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "db.yaml").write_text(POLICY)
    history = History(tmp_path / "state")
    now = now_utc()
    history.backup(now - backup_age - timedelta(minutes=30), now - backup_age)
    history.drill(now - timedelta(minutes=20), 0.1)
    history.list()
    history.catalog.close()
    return CliRunner().invoke(cli, ["--policies", str(tmp_path / "policies"), "--state-dir",
                                    str(tmp_path / "state"), "status", *args])


@pytest.mark.parametrize("args", [(), ("--json",)])
def test_status_exits_3_when_the_exposure_exceeds_the_rpo(tmp_path, args):
    result = status_of(tmp_path, timedelta(hours=30), *args)
    assert result.exit_code == 3, result.output
    if args:
        [row] = json.loads(result.stdout)["policies"]
        assert row["verdict"] == "BREACH" and row["problems"] == ["RPO"]
    else:
        [row] = [ln for ln in result.stdout.splitlines() if ln.strip().startswith("db ")]
        assert row.split()[-1] == "RPO"  # the problems column


def test_status_exits_0_when_every_objective_is_met(tmp_path):
    result = status_of(tmp_path, timedelta(hours=1), "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)["policies"]
    assert row["verdict"] == "OK" and row["problems"] == []


def test_output_that_cannot_be_written_is_an_error_line_not_an_internal_error(tmp_path):
    """`drkit policy schema > /full/disk`: one `drkit: error:` line and exit 1, no "internal error"."""
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "drkit", "--policies", str(tmp_path), "policy", "schema"],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ("drkit: error: cannot write the output: No space left on device (free space where it "
                           "goes, or send it elsewhere, and rerun)\n")


def test_a_file_drkit_cannot_write_is_named_in_one_error_line(tmp_path):
    """`report -o`, `runbook -o` and `policy new --password-file` into a place that cannot take the
    file: `drkit: error: cannot write …` naming it, exit 1, never an internal error."""
    from factories import drkit_in_process

    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    base = ("--policies", str(tmp_path / "policies"), "--state-dir", str(tmp_path / "state"))
    made = drkit_in_process(*base, "policy", "new", "shop", "--password-file", str(blocked / "shop.pass"))
    assert made.code == 1 and made.stderr.startswith(
        f"drkit: error: cannot write the password file: {blocked}"), made.stderr
    assert not (tmp_path / "policies" / "shop.yaml").exists()
    drkit_in_process(*base, "policy", "new", "shop", "--path", "/srv/shop", "--password-file", str(tmp_path / "p"))
    for args in (("report", "-o", str(blocked / "report.txt")), ("runbook", "shop", "-o", str(blocked / "rb.md")),
                 ("status", "--prometheus", str(blocked / "drkit.prom"))):
        result = drkit_in_process(*base, *args)
        assert result.code == 1, result
        assert result.stderr.startswith(f"drkit: error: cannot write: {blocked / args[-1].rsplit('/', 1)[1]}: "), result
        assert "internal error" not in result.stderr and result.stderr.count("drkit: error") == 1, result.stderr
    for kind, what in (("--systemd", "the units"), ("--cron", "the crontab")):
        result = drkit_in_process(*base, "scheduler", "install", kind, "-o", str(blocked / "units"))
        assert result.code == 1 and result.stderr.startswith(f"drkit: error: cannot write {what}: "), result
