"""What a notification says, and sending it to every subscribed `notify:` target.

Called by the shared job runner (daemon) and by the CLI commands (cron mode), so a run notifies
the same way however it was started. A notification that cannot be delivered is logged as a
warning and never changes the run's status or exit code: a dead chat webhook must not turn a
good backup into a failed one. How each channel delivers is its own module (drkit/notify/).
"""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import asdict, dataclass
from typing import Protocol

from drkit import __version__
from drkit.core.outcome import RunStatus, event
from drkit.core.policy import Policy
from drkit.evidence.records import Record, now_utc, utc_text
from drkit.notify.registry import channel_label, deliver, failure_reason

log = logging.getLogger("drkit")



class RunOutcome(Protocol):
    """What notifications need of a run's outcome (drkit/jobs/lifecycle.py RunOutcome)."""

    status: RunStatus
    record: Record | None
    notice: str | None             # a distinct event for a run that succeeded (backup_suspicious)

    @property
    def exit_code(self) -> int: ...

    @property
    def message(self) -> str: ...


@dataclass(frozen=True)
class Message:
    """The notification payload (webhook JSON body; also rendered for email and pings)."""

    policy: str
    job: str
    event: str          # start | success | failure | breach | backup_suspicious
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
        word = {"start": "started", "backup_suspicious": "SUSPICIOUS"}.get(self.event, self.status.upper())
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
    return Message(policy, job, outcome.notice or event(outcome.status), str(outcome.status), outcome.message, socket.gethostname(),
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
            deliver(target, message)
        except Exception as exc:  # noqa: BLE001 - any delivery problem is only a warning
            warning = f"{policy.name}: {message.job} {message.event} notification to {channel_label(target)} failed: {failure_reason(exc)}"
            log.warning("%s", warning)
            warnings.append(warning)
    return warnings
