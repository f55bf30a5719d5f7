"""Tell people how a run went: webhooks, healthchecks-style pings, email.

Called by the shared job runner (daemon) and by the CLI commands (cron mode), so a run notifies
the same way however it was started. A notification that cannot be delivered is logged as a
warning and never changes the run's status or exit code: a dead chat webhook must not turn a
good backup into a failed one.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import socket
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import urlsplit

from drkit import __version__
from drkit.core.outcome import RunStatus, event
from drkit.core.policy import EmailNotify, EmailSpec, HealthcheckNotify, Notify, Policy, WebhookNotify
from drkit.evidence.records import Record, now_utc, utc_text

log = logging.getLogger("drkit")

TIMEOUT_S = 10.0
_HC_SUFFIX = {"start": "/start", "success": "", "failure": "/fail", "breach": "/fail"}


class RunOutcome(Protocol):
    """What notifications need of a run's outcome (drkit/jobs/lifecycle.py RunOutcome)."""

    status: RunStatus
    record: Record | None

    @property
    def exit_code(self) -> int: ...

    @property
    def message(self) -> str: ...


@dataclass(frozen=True)
class Message:
    """The notification payload (webhook JSON body; also rendered for email and pings)."""

    policy: str
    job: str
    event: str          # start | success | failure | breach
    status: str         # running | ok | partial | failed | breach | interrupted | locked | missed
    message: str
    host: str
    ts: str
    exit_code: int | None = None
    evidence_digest: str | None = None
    snapshot_id: str | None = None
    drkit_version: str = __version__

    def as_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    def summary(self) -> str:
        word = "started" if self.event == "start" else self.status.upper()
        return f"drkit {self.policy} {self.job} {word}"

    def text(self) -> str:
        lines = [self.summary(), "", self.message, "", f"host: {self.host}", f"time: {self.ts}"]
        if self.exit_code is not None:
            lines.append(f"exit code: {self.exit_code}")
        if self.snapshot_id:
            lines.append(f"snapshot: {self.snapshot_id}")
        if self.evidence_digest:
            lines.append(f"evidence: {self.evidence_digest}")
        return "\n".join(lines) + "\n"


def event_for(status: str) -> str:
    return event(status)  # type: ignore[arg-type] - a RunStatus is its string


def notify_start(policy: Policy, job: str) -> list[str]:
    """Announce a run (healthchecks `/start` measures run time and catches hung runs)."""
    return send(policy, Message(policy.name, job, "start", "running", f"{job} of {policy.name} started",
                                socket.gethostname(), utc_text(now_utc())))


def notify_outcome(policy: Policy, job: str, outcome: RunOutcome) -> list[str]:
    """Report a finished run; returns the warnings of targets that could not be reached."""
    return send(policy, outcome_message(policy.name, job, outcome))


def outcome_message(policy: str, job: str, outcome: RunOutcome) -> Message:
    record = outcome.record
    return Message(policy, job, event(outcome.status), str(outcome.status), outcome.message, socket.gethostname(),
                   utc_text(now_utc()), exit_code=outcome.exit_code,
                   evidence_digest=record.digest() if record else None,
                   snapshot_id=record.snapshot_id if record else None)


def send(policy: Policy, message: Message) -> list[str]:
    """Deliver to every target subscribed to the message's event; never raises."""
    warnings: list[str] = []
    for target in policy.notify:
        if message.event not in target.on:
            continue
        try:
            _deliver(target, message)
        except Exception as exc:  # noqa: BLE001 - any delivery problem is only a warning
            warning = f"{policy.name}: {message.job} {message.event} notification to {_target_label(target)} failed: {_reason(exc)}"
            log.warning("%s", warning)
            warnings.append(warning)
    return warnings


def _deliver(target: Notify, message: Message) -> None:
    if isinstance(target, WebhookNotify):
        _post(target.webhook, message.as_json(), "application/json")
    elif isinstance(target, HealthcheckNotify):
        _post(target.healthcheck.rstrip("/") + _HC_SUFFIX[message.event], message.text().encode("utf-8"),
              "text/plain; charset=utf-8")
    elif isinstance(target, EmailNotify):
        _email(target.email, message)


def _post(url: str, body: bytes, content_type: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("not an http(s) URL")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type, "User-Agent": f"drkit/{__version__}"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 - scheme checked above
        response.read(1024)


def _email(spec: EmailSpec, message: Message) -> None:
    """Plain SMTP; host/port from the policy, else DRKIT_SMTP_HOST/PORT; login from DRKIT_SMTP_USER/PASSWORD."""
    host = spec.smtp_host or os.environ.get("DRKIT_SMTP_HOST") or "localhost"
    port = spec.smtp_port or int(os.environ.get("DRKIT_SMTP_PORT") or 25)
    mail = EmailMessage()
    mail["Subject"] = f"[drkit] {message.summary()}"
    mail["From"] = spec.sender or os.environ.get("DRKIT_SMTP_FROM") or f"drkit@{message.host}"
    mail["To"] = ", ".join(spec.to)
    mail.set_content(message.text())
    with smtplib.SMTP(host, port, timeout=TIMEOUT_S) as smtp:
        user = os.environ.get("DRKIT_SMTP_USER")
        if user:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            smtp.login(user, os.environ.get("DRKIT_SMTP_PASSWORD", ""))
        smtp.send_message(mail)


def _target_label(target: Notify) -> str:
    """Where a target points, without the path: webhook paths and ping UUIDs are secrets."""
    if isinstance(target, EmailNotify):
        return f"email {', '.join(target.email.to)}"
    url = target.webhook if isinstance(target, WebhookNotify) else target.healthcheck
    kind = "webhook" if isinstance(target, WebhookNotify) else "healthcheck"
    parts = urlsplit(url)
    return f"{kind} {parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/…"


def _reason(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"no answer within {TIMEOUT_S:.0f}s"
    return f"{type(exc).__name__}: {exc}"
