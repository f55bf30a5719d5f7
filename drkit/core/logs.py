"""Logging setup: `-v` / `-vv` raise drkit's own level; credentials never reach a log line.

At DEBUG, botocore logs every request's headers (the `Authorization` header carries the access
key id and the signature; `X-Amz-Security-Token` a session token) and urllib3 logs URLs, which
for presigned requests carry `X-Amz-Credential` and `X-Amz-Signature`. So the AWS libraries stay
at WARNING whatever the verbosity, and a filter on every handler masks those fields in whatever
still logs (docs/reliability.md, "Local exposure").
"""

from __future__ import annotations

import logging
import re

# Libraries that log request details at DEBUG/INFO.
QUIET_LOGGERS = ("boto3", "botocore", "s3transfer", "urllib3")

_SECRET_FIELDS = [
    # header dicts and raw header lines: 'Authorization': b'AWS4-HMAC-SHA256 Credential=…, Signature=…'
    re.compile(r"""(?P<keep>\b(?:authorization|x-amz-security-token)['"]?\s*[:=]\s*b?(?P<q>['"]))[^'"]*(?P=q)""", re.I),
    re.compile(r"""(?P<keep>\b(?:authorization|x-amz-security-token):[ \t]*)[^\r\n'",}]+""", re.I),
    # query strings and header values: X-Amz-Signature=…, X-Amz-Credential=…, Credential=…, Signature=…
    re.compile(r"""(?P<keep>\b(?:x-amz-(?:signature|credential|security-token)|credential|signature)=)[^&\s'",;]+""",
               re.I),
]


def redact(text: str) -> str:
    """`text` with every credential field's value replaced by `***`."""
    for pattern in _SECRET_FIELDS:
        text = pattern.sub(lambda m: m.group("keep") + "***" + (m.groupdict().get("q") or ""), text)
    return text


class RedactingFilter(logging.Filter):
    """Masks credential fields in the formatted message (arguments included) of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure(verbose: int) -> None:
    """WARNING by default, INFO with -v, DEBUG with -vv, ERROR with -q (verbose -1): for drkit only."""
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), format="drkit: %(levelname)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
