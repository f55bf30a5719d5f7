"""The notifier-channel registry: how each kind of `notify:` target is reached and named.

A channel is a model (its `notify:` mapping, selected by its YAML key, with an `on:` list of
events) and a deliver function registered with `@register_channel`, plus a label that names the
target in warnings without its secrets (webhook paths and ping UUIDs are credentials).
"""

from __future__ import annotations

import socket
import urllib.error
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel

from drkit.core.policy import NOTIFIERS

if TYPE_CHECKING:
    from drkit.notify.message import Message

TIMEOUT_S = 10.0  # per delivery: a silent server must not hold up the run

DeliverFn = Callable[[Any, "Message"], None]


@dataclass(frozen=True)
class Channel:
    deliver: DeliverFn
    label: Callable[[Any], str]


def register_channel(model: type[BaseModel], *, key: str, label: Callable[[Any], str]) -> Callable[[DeliverFn], DeliverFn]:
    """Decorator: `model` entries of `notify:` (selected by the YAML `key`) are delivered by this function."""
    if "on" not in model.model_fields:
        raise ValueError(f"notify kind '{key}': {model.__name__} needs an `on` field (the events it receives)")

    def decorate(func: DeliverFn) -> DeliverFn:
        NOTIFIERS.add(key, model, Channel(func, label))
        return func
    return decorate


def deliver(target: BaseModel, message: Message) -> None:
    NOTIFIERS.of(target).deliver(target, message)


def channel_label(target: BaseModel) -> str:
    return NOTIFIERS.of(target).label(target)


def failure_reason(exc: Exception) -> str:
    """Why a delivery failed, in a few words."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"no answer within {TIMEOUT_S:.0f}s"
    return f"{type(exc).__name__}: {exc}"
