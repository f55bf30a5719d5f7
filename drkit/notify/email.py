"""`email: {to, from, smtp_host, smtp_port}`: plain SMTP; host/port from the policy, else
DRKIT_SMTP_HOST/PORT; login (with STARTTLS when offered) from DRKIT_SMTP_USER/PASSWORD."""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage

from pydantic import Field

from drkit.core.policy import Event, Model, WholeNumber
from drkit.notify import registry
from drkit.notify.message import Message
from drkit.notify.registry import register_channel


class EmailSpec(Model):
    to: list[str] = Field(min_length=1)
    sender: str | None = Field(None, alias="from")
    smtp_host: str | None = None
    smtp_port: WholeNumber | None = Field(None, ge=1, le=65535)


class EmailNotify(Model):
    email: EmailSpec
    on: list[Event] = ["failure", "breach", "backup_suspicious"]


@register_channel(EmailNotify, key="email", label=lambda t: f"email {', '.join(t.email.to)}")
def deliver(target: EmailNotify, message: Message) -> None:
    spec = target.email
    host = spec.smtp_host or os.environ.get("DRKIT_SMTP_HOST") or "localhost"
    port = spec.smtp_port or int(os.environ.get("DRKIT_SMTP_PORT") or 25)
    mail = EmailMessage()
    mail["Subject"] = f"[drkit] {message.summary()}"
    mail["From"] = spec.sender or os.environ.get("DRKIT_SMTP_FROM") or f"drkit@{message.host}"
    mail["To"] = ", ".join(spec.to)
    mail.set_content(message.text())
    with smtplib.SMTP(host, port, timeout=registry.TIMEOUT_S) as smtp:
        user = os.environ.get("DRKIT_SMTP_USER")
        if user:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            smtp.login(user, os.environ.get("DRKIT_SMTP_PASSWORD", ""))
        smtp.send_message(mail)
