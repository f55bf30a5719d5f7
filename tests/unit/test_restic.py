"""restic adapter: parsing of recorded real restic 0.14 output, error classification, child env."""

import json
from datetime import timezone
from pathlib import Path

import pytest

from drkit.core import errors
from drkit.core.policy import Repository
from drkit.engines.restic import (
    BackupSummary,
    Restic,
    Snapshot,
    _error_text,
    _json_line,
    check_version,
    classify,
    parse_restic_time,
)
from drkit.engines.restic.output import BackupMessages

DATA = Path(__file__).parents[1] / "data" / "restic"


def read(name: str) -> str:
    return (DATA / name).read_text()


def test_backup_summary_from_recorded_output():
    lines = [_json_line(ln) for ln in read("backup.jsonl").splitlines()]
    summary = next(m for m in lines if m and m["message_type"] == "summary")
    parsed = BackupSummary.from_json(summary, [])
    assert parsed.snapshot_short_id == "d2d27779"
    assert parsed.total_files_processed == 2 and parsed.total_bytes_processed == 300011
    assert parsed.data_added == 302122


def test_snapshots_from_recorded_output_keep_full_id_and_utc_time():
    [snap] = [Snapshot.from_json(s) for s in json.loads(read("snapshots.json"))]
    assert len(snap.id) == 64 and snap.id.startswith(snap.short_id)
    assert snap.time.tzinfo is not None


def test_restic_time_with_nanoseconds_and_offset():
    moment = parse_restic_time("2026-11-23T11:34:01.123456789+01:00")
    assert moment.astimezone(timezone.utc).isoformat() == "2026-11-23T10:34:01.123456+00:00"
    assert parse_restic_time("2026-11-23T11:34:01Z").tzinfo is not None


def test_partial_backup_error_line_is_readable():
    msg = _json_line(read("backup-partial.stderr").splitlines()[0])
    assert _error_text(msg) == "/tmp/part/src/secret: open: Permission denied"


@pytest.mark.parametrize("stderr_file,rc,error_type,words", [
    ("wrong-password.stderr", 1, errors.WrongPassword, "wrong repository password"),
    ("no-repo.stderr", 1, errors.NoRepository, "drkit repo init"),
    # a refused request is no missing repository, though restic asks "Is there a repository …?"
    ("wrong-secret-key.stderr", 1, errors.ResticError, "S3 refused the credentials (unable to open config"),
    ("unknown-access-key.stderr", 1, errors.ResticError, "S3 refused the credentials (unable to open config"),
    ("unreachable.stderr", 1, errors.Unreachable, "unreachable"),
    ("no-such-host.stderr", 1, errors.Unreachable, "no such host"),
    ("backup-partial.stderr", 3, errors.PartialBackup, "could not be read"),
    ("password-command-failed.stderr", 1, errors.PasswordUnavailable, "the password command failed (exit status 1)"),
    ("password-empty.stderr", 1, errors.PasswordUnavailable, "could not be read: it is empty"),
    ("password-file-missing.stderr", 1, errors.PasswordUnavailable, "/nonexistent does not exist"),
])
def test_classification_of_recorded_failures(stderr_file, rc, error_type, words):
    err = classify(rc, read(stderr_file), "backup")
    assert type(err) is error_type
    assert words in str(err)
    assert err.exit_code == 1


def test_a_go_stack_trace_never_reaches_a_message():
    err = classify(2, read("panic.stderr"), "restore")
    assert str(err) == "restore: restic exited 2: panic: runtime error: invalid memory address or nil pointer dereference"
    assert ".go:" not in str(err) and "goroutine" not in str(err) and "asm_amd64" not in str(err)


def test_locked_repository_is_classified():
    stderr = ("repo already locked, waiting up to 0s for the lock\nunable to create lock in backend: "
              "repository is already locked by PID 4242 on host by root (UID 0, GID 0)\n")
    assert isinstance(classify(1, stderr, "backup"), errors.RepositoryLocked)


def test_unknown_failure_keeps_restic_message():
    err = classify(1, "Fatal: something odd happened\n", "backup")
    assert type(err) is errors.ResticError and "something odd happened" in str(err)


@pytest.mark.parametrize("output,ok", [
    ("restic 0.14.0 compiled with go1.19.8 on linux/amd64", True),
    ("restic 0.16.4 compiled with go1.21 on linux/amd64", True),
    ("restic 0.13.1 compiled with go1.18 on linux/amd64", False),
    ("restic 0.9.6 compiled with go1.13 on linux/amd64", False),
])
def test_version_gate(output, ok):
    if ok:
        assert check_version(output) >= (0, 14, 0)
    else:
        with pytest.raises(errors.ResticTooOld, match="apt-get install -y restic"):
            check_version(output)


def test_missing_restic_binary_says_how_to_install():
    repo = Repository(url="s3:http://127.0.0.1:1/b/p", password_env="PW")
    with pytest.raises(errors.ResticNotFound, match="apt-get install"):
        Restic(repo, binary="restic-does-not-exist").version()


def test_password_sources_go_to_env_never_argv(monkeypatch, tmp_path):
    monkeypatch.setenv("DR_PW", "s3cret-pw")
    monkeypatch.setenv("RESTIC_PASSWORD", "leaked-from-parent")
    env = Restic(Repository(url="s3:http://h/b/p", password_env="DR_PW")).env()
    assert env["RESTIC_PASSWORD"] == "s3cret-pw"
    env = Restic(Repository(url="s3:http://h/b/p", password_file=tmp_path / "pw")).env()
    assert env["RESTIC_PASSWORD_FILE"] == str(tmp_path / "pw") and "RESTIC_PASSWORD" not in env
    env = Restic(Repository(url="s3:http://h/b/p", password_command=["pass", "show", "dr key"])).env()
    assert env["RESTIC_PASSWORD_COMMAND"] == "pass show 'dr key'"
    assert env["RESTIC_REPOSITORY"] == "s3:http://h/b/p"


def test_unset_password_env_is_an_unavailable_password(monkeypatch):
    monkeypatch.delenv("NOPE_PW", raising=False)
    with pytest.raises(errors.PasswordUnavailable, match="NOPE_PW is not set"):  # exit 1, as a missing file
        Restic(Repository(url="s3:http://h/b/p", password_env="NOPE_PW")).env()


def test_credentials_are_passed_in_env(monkeypatch):
    monkeypatch.setenv("X", "pw")
    restic = Restic(Repository(url="s3:http://h/b/p", password_env="X"),
                    credentials={"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"})
    env = restic.env()
    assert env["AWS_ACCESS_KEY_ID"] == "AK" and env["AWS_SECRET_ACCESS_KEY"] == "SK"


def test_partial_backup_collects_the_summary_and_the_per_file_error_from_stderr():
    statuses: list[dict] = []
    messages = BackupMessages(statuses.append)
    for line in read("backup-partial.jsonl").splitlines():
        messages.stdout(line)
    for line in read("backup-partial.stderr").splitlines():
        messages.stderr(line)
    summary = messages.summary()
    assert [s["message_type"] for s in statuses] == ["status"]
    assert summary.errors == ["/tmp/part/src/secret: open: Permission denied"]
    assert summary.snapshot_short_id and summary.total_files_processed >= 1


def test_backup_without_a_summary_line_is_an_error():
    with pytest.raises(errors.ResticError, match="without a summary line"):
        BackupMessages().summary()


# Recorded from restic 0.14.0 (`restic copy` prints text only; docs/repositories.md).
COPY_OUTPUT = """
snapshot e0355b74 of [/tmp/rx/src] at 2026-11-23 22:23:49.527652949 +0000 UTC)
skipping source snapshot e0355b74, was already copied to snapshot 603bd942

snapshot 8bff6b5c of [/tmp/rx/src] at 2026-11-23 22:25:27.976102781 +0000 UTC)
  copy started, this may take a while...
[0:00]          0 packs copied

snapshot 72d17158 saved
""".splitlines()


def test_copy_output_pairs_each_copied_snapshot_with_its_source():
    from drkit.engines.restic.output import parse_copy

    report = parse_copy(COPY_OUTPUT)
    assert report.copied == [("8bff6b5c", "72d17158")] and report.skipped == ["e0355b74"]
    assert parse_copy([]).copied == []


def test_a_copied_snapshot_names_its_original():
    from drkit.engines.restic.output import Snapshot

    copied = Snapshot.from_json({"time": "2026-11-23T22:23:49.527652949Z", "id": "36fe" * 16, "paths": ["/x"],
                                 "original": "e035" * 16})
    plain = Snapshot.from_json({"time": "2026-11-23T22:23:49Z", "id": "e035" * 16, "paths": ["/x"]})
    assert copied.original_id == "e035" * 16 and plain.original is None and plain.original_id == plain.id


def test_hints_name_the_policy_not_a_placeholder():
    """The commands the hints give can be pasted as they are: `drkit repo init shop`, not `... NAME`."""
    missing = classify(1, read("password-file-missing.stderr"), "backup", "shop")
    assert missing.hint.endswith("drkit keys recover shop --identity FILE")
    none = classify(1, read("no-repo.stderr"), "backup", "shop")
    assert isinstance(none, errors.NoRepository) and none.hint == "run: drkit repo init shop"


def test_a_wrong_password_names_the_repository_that_refused_it():
    """A policy with copies has one password per repository: the hint says whose."""
    err = classify(1, read("wrong-password.stderr"), "open repository", "shop", "offsite")
    assert isinstance(err, errors.WrongPassword) and err.hint == "check the policy's password source of repository offsite"
    assert classify(1, read("wrong-password.stderr"), "copy snapshots", "shop").hint == \
        "check the policy's password source"  # restic copy opened two: its words do not say which
    runner = Restic(Repository(url="s3:http://h/b/p", password_env="X", name="offsite"))
    assert runner.opened(["snapshots", "--json"]) == "offsite" and runner.opened(["copy", "--tag", "t"]) is None
    assert runner.opened(["init", "--copy-chunker-params"]) is None
