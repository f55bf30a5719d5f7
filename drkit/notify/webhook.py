"""`webhook: URL`: the run as a JSON POST (chat bridges, incident tools)."""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

from pydantic import Field

from drkit import __version__
from drkit.core.policy import Event, Model
from drkit.notify import registry
from drkit.notify.message import Message
from drkit.notify.registry import register_channel


class WebhookNotify(Model):
    webhook: str = Field(description="URL that receives a JSON POST per run")
    on: list[Event] = Field(["failure", "breach", "backup_suspicious"],
                           description="events: start, success, failure, breach, backup_suspicious (docs/guard.md)")


def post(url: str, body: bytes, content_type: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("not an http(s) URL")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type, "User-Agent": f"drkit/{__version__}"})
    with urllib.request.urlopen(request, timeout=registry.TIMEOUT_S) as response:  # noqa: S310 - scheme checked above
        response.read(1024)


def url_label(kind: str, url: str) -> str:
    """Scheme, host and port only: the path of a webhook or ping URL is its secret."""
    parts = urlsplit(url)
    return f"{kind} {parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/…"


@register_channel(WebhookNotify, key="webhook", label=lambda t: url_label("webhook", t.webhook))
def deliver(target: WebhookNotify, message: Message) -> None:
    post(target.webhook, message.as_json(), "application/json")
