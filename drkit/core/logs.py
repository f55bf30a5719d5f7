"""Logging setup: `-v` / `-vv` raise drkit's own level, `-q` lowers it to errors; credentials
never reach a log line; under systemd every stderr line carries its syslog priority.

At DEBUG, botocore logs every request's headers (the `Authorization` header carries the access
key id and the signature; `X-Amz-Security-Token` a session token) and urllib3 logs URLs, which
for presigned requests carry `X-Amz-Credential` and `X-Amz-Signature`. So the AWS libraries stay
at WARNING whatever the verbosity, and a filter on every handler masks those fields in whatever
still logs (docs/reliability.md, "Local exposure").
"""

from __future__ import annotations

import logging
import os
import re
import sys

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


# syslog priorities (sd-daemon(3)): what `journalctl -p err` / `-p warning` filter on.
ERR, WARNING, INFO, DEBUG = 3, 4, 6, 7


def priority_of(level: int) -> int:
    """The syslog priority of a logging level."""
    return ERR if level >= logging.ERROR else WARNING if level >= logging.WARNING else \
        INFO if level >= logging.INFO else DEBUG


def under_journal(stream=None) -> bool:
    """Whether `stream` (default stderr) is connected to journald: systemd sets JOURNAL_STREAM to
    the `DEV:INODE` of the stream it connected (systemd.exec(5)), so a redirected stderr is not."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


class JournalFormatter(logging.Formatter):
    """`<3>drkit: ERROR: …`: journald strips the prefix and files the line under that priority."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority_of(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


class JournalStream:
    """stderr for messages printed directly (`drkit: error: …`, `warning: …`): each line gets the
    priority its start names — `<4>` for warnings, `<3>` for everything else, since drkit prints
    only problems on stderr; a line that already carries `<N>` is left alone."""

    def __init__(self, stream=None):
        self._stream = stream

    @property
    def stream(self):
        return self._stream or sys.stderr   # resolved at write time: tests swap sys.stderr

    def write(self, text: str) -> int:
        lines = text.split("\n")
        marked = [line if not line or _HAS_PRIORITY.match(line) else f"<{_line_priority(line)}>{line}"
                  for line in lines]
        self.stream.write("\n".join(marked))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", "utf-8")


_HAS_PRIORITY = re.compile(r"<[0-7]>")


def _line_priority(line: str) -> int:
    return WARNING if line.lstrip().lower().startswith(("warning", "drkit: warning")) else ERR


def configure(verbose: int) -> None:
    """WARNING by default, INFO with -v, DEBUG with -vv, ERROR with -q (verbose -1): for drkit only;
    under journald each line starts with its priority (docs/operations.md, "journald")."""
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), format="drkit: %(levelname)s: %(message)s")
    if under_journal():
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JournalFormatter("drkit: %(levelname)s: %(message)s"))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
