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
