"""Credentials never reach a log line, at any verbosity (drkit/core/logs.py)."""

from __future__ import annotations

import io
import logging

import pytest

from drkit.core.logs import QUIET_LOGGERS, RedactingFilter, configure, redact

AUTH = ("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEKEYID/20261123/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0123456789abcdef0123456789abcdef")


@pytest.mark.parametrize("line", [
    # botocore's "Sending http request" header dict (values are bytes)
    f"Sending http request: <AWSPreparedRequest method=GET, headers={{'User-Agent': b'Boto3', "
    f"'Authorization': b'{AUTH}', 'X-Amz-Security-Token': b'FQoGZXIvYXdzEXAMPLETOKEN'}}>",
    f"headers: {{'authorization': '{AUTH}'}}",
    f"Authorization: {AUTH}\r\nHost: s3.amazonaws.com",
    "GET /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLEKEYID%2F20261123&"
    "X-Amz-Signature=0123456789abcdef0123456789abcdef&X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLETOKEN HTTP/1.1",
])
def test_credential_fields_are_masked(line):
    cleaned = redact(line)
    for secret in ("AKIAEXAMPLEKEYID", "0123456789abcdef0123456789abcdef", "FQoGZXIvYXdzEXAMPLETOKEN"):
        assert secret not in cleaned, cleaned
    assert "***" in cleaned


def test_text_without_credentials_is_unchanged():
    line = "backup site: snapshot 1a2b3c4d, 12 files, signature ok (key 9f00)"
    assert redact(line) == line


def test_the_filter_masks_arguments_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("drkit.test_logs")
    logger.addHandler(handler)
    try:
        logger.warning("request headers %s", {"Authorization": AUTH})
        try:
            raise RuntimeError(f"failed with X-Amz-Signature=deadbeefdeadbeef in {AUTH}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "AKIAEXAMPLEKEYID" not in text and "deadbeefdeadbeef" not in text and "0123456789abcdef" not in text
    assert "RuntimeError" in text


def test_vv_keeps_the_aws_libraries_at_warning():
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in QUIET_LOGGERS}
    try:
        root.handlers = []
        configure(2)
        assert root.level == logging.DEBUG
        assert all(logging.getLogger(name).getEffectiveLevel() == logging.WARNING for name in QUIET_LOGGERS)
        assert all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in root.handlers)
    finally:
        root.handlers, root.level = saved[0], saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


def _under_journal_run(tmp_path, *args: str) -> list[str]:
    """`drkit ARGS` as systemd starts it: stdout and stderr into one file whose DEV:INODE is JOURNAL_STREAM."""
    import os
    import subprocess
    import sys

    log = tmp_path / "journal"
    with open(log, "w") as stream:
        st = os.fstat(stream.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        subprocess.run([sys.executable, "-m", "drkit", *args], stdout=stream, stderr=stream, env=env, timeout=60,
                       check=False)
    return log.read_text().splitlines()


def test_under_journald_errors_and_warnings_carry_their_syslog_priority(tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "web.yaml").write_text(
        "version: 1\nname: web\nobjectives: {rpo: 1d, rto: 4h}\ntargets: [{path: /srv/www}]\n"
        "repository: {url: /srv/repo, password_env: PW}\n")
    (policies / "broken.yaml").write_text("version: 1\nname: [\n")
    lines = _under_journal_run(tmp_path, "--policies", str(policies), "--state-dir", str(tmp_path / "state"),
                               "backup", "web")
    assert not [line for line in lines if line.startswith("drkit")], lines     # no stderr line without priority
    assert "<3>drkit: error: source path /srv/www does not exist (fix the path in the policy or restore the mount)" \
        in lines, lines
    assert any(line.startswith("<3>") and "broken.yaml" in line for line in lines), lines


def test_log_records_get_the_priority_of_their_level():
    from drkit.core.logs import JournalFormatter, JournalStream

    formatter = JournalFormatter("%(levelname)s: %(message)s")
    record = logging.LogRecord("drkit", logging.WARNING, __file__, 1, "slow\nsecond line", None, None)
    assert formatter.format(record) == "<4>WARNING: slow\n<4>second line"
    sink = io.StringIO()
    JournalStream(sink).write("warning: web: 2 files unreadable\ndrkit: error: S3 unreachable\n<6>done\n")
    assert sink.getvalue() == "<4>warning: web: 2 files unreadable\n<3>drkit: error: S3 unreachable\n<6>done\n"


def test_a_redirected_stderr_is_not_the_journal(tmp_path, monkeypatch):
    from drkit.core.logs import under_journal

    monkeypatch.setenv("JOURNAL_STREAM", "1:1")
    with open(tmp_path / "f", "w") as stream:
        assert not under_journal(stream)


def test_daemon_text_lines_carry_the_priority_of_their_status_and_json_stays_plain(tmp_path, monkeypatch):
    import os

    from drkit.core.policy import Policy
    from drkit.daemon.scheduler import EventLog, job_specs

    policy = Policy.model_validate({"version": 1, "name": "web", "objectives": {"rpo": "1d", "rto": "4h"},
                                    "targets": [{"path": "/srv/www"}], "schedule": {"backup": "every hour"},
                                    "repository": {"url": "/srv/repo", "password_env": "PW"}})
    [spec] = job_specs([policy])
    for fmt in ("text", "json"):
        with open(tmp_path / fmt, "w") as stream:
            st = os.fstat(stream.fileno())
            monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
            log = EventLog(fmt, stream)
            log.job_start(spec, "due")
            log.job_end(spec, "failed", 1.0, None, "S3 unreachable")
            log.job_end(spec, "breach", 1.0, None, "RTA over RTO")
        written = (tmp_path / fmt).read_text().splitlines()
        expected = ["<6>", "<3>", "<4>"] if fmt == "text" else ["{", "{", "{"]
        assert [line[:len(p)] for line, p in zip(written, expected, strict=True)] == expected
