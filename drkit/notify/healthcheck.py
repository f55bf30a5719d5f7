"""`healthcheck: BASE_URL`: healthchecks.io-style pings; `/start` measures run time and catches hung
runs, `/fail` marks a failure or breach."""

from __future__ import annotations

from pydantic import Field

from drkit.core.policy import Event, Model
from drkit.notify.message import Message
from drkit.notify.registry import register_channel
from drkit.notify.webhook import post, url_label

_SUFFIX = {"start": "/start", "success": "", "failure": "/fail", "breach": "/fail", "backup_suspicious": "/fail"}


class HealthcheckNotify(Model):
    healthcheck: str = Field(description="healthchecks.io-style base URL; /start and /fail are appended")
    on: list[Event] = ["start", "success", "failure", "breach", "backup_suspicious"]


@register_channel(HealthcheckNotify, key="healthcheck", label=lambda t: url_label("healthcheck", t.healthcheck))
def deliver(target: HealthcheckNotify, message: Message) -> None:
    post(target.healthcheck.rstrip("/") + _SUFFIX[message.event], message.text().encode("utf-8"),
         "text/plain; charset=utf-8")
