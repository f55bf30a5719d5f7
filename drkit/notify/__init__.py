"""Tell people how a run went: webhooks, healthchecks-style pings, email.

`message` builds what is said and sends it to every subscribed target; each channel is one
module registered with `@register_channel` (drkit/notify/registry.py, docs/extending.md).
"""

from __future__ import annotations

from drkit.notify.message import (
    Message,
    RunOutcome,
    event_for,
    notify_outcome,
    notify_start,
    outcome_message,
    send,
)
from drkit.notify.registry import Channel, channel_label, deliver, register_channel

# The built-in channels register themselves on import, in the order the docs list them.
from drkit.notify import webhook, healthcheck, email  # noqa: E402, F401, I001  isort: skip

__all__ = ["Channel", "Message", "RunOutcome", "channel_label", "deliver", "event_for",
           "notify_outcome", "notify_start", "outcome_message", "register_channel", "send"]
