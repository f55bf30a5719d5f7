"""What restic prints, as typed values: `--json` messages of snapshots, backup, ls and check.

Parsing is pure (no process), so tests feed it recorded real restic 0.14 output (tests/data/restic/).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from drkit.core import errors


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: datetime
    paths: list[str]
    hostname: str = ""
    tags: list[str] = field(default_factory=list)
    original: str | None = None  # for a snapshot `restic copy` made: the source snapshot's id

    @property
    def original_id(self) -> str:
        """The id of the backup that made this snapshot, whichever repository it was copied into."""
        return self.original or self.id

    @classmethod
    def from_json(cls, obj: dict) -> "Snapshot":
        return cls(
            id=obj["id"],
            short_id=obj.get("short_id", obj["id"][:8]),
            time=parse_restic_time(obj["time"]),
            paths=list(obj.get("paths") or []),
            hostname=obj.get("hostname", ""),
            tags=list(obj.get("tags") or []),
            original=obj.get("original") or None,
        )


@dataclass(frozen=True)
class BackupSummary:
    snapshot_short_id: str
    files_new: int
    files_changed: int
    files_unmodified: int
    total_files_processed: int
    total_bytes_processed: int
    data_added: int
    total_duration: float
    errors: list[str]

    @classmethod
    def from_json(cls, obj: dict, errors_seen: list[str]) -> "BackupSummary":
        return cls(
            snapshot_short_id=obj.get("snapshot_id", ""),
            files_new=obj.get("files_new", 0),
            files_changed=obj.get("files_changed", 0),
            files_unmodified=obj.get("files_unmodified", 0),
            total_files_processed=obj.get("total_files_processed", 0),
            total_bytes_processed=obj.get("total_bytes_processed", 0),
            data_added=obj.get("data_added", 0),
            total_duration=float(obj.get("total_duration", 0.0)),
            errors=errors_seen,
        )


@dataclass(frozen=True)
class Node:
    """One entry of `restic ls --json`."""

    path: str
    type: str  # file | dir | symlink | ...
    size: int
    mtime: str

    @classmethod
    def from_json(cls, obj: dict) -> "Node":
        return cls(path=obj["path"], type=obj["type"], size=int(obj.get("size") or 0), mtime=obj.get("mtime", ""))


@dataclass(frozen=True)
class Listing:
    """A snapshot's `restic ls --json`: the snapshot (None when nothing matched) and its nodes."""

    snapshot: Snapshot | None
    nodes: list[Node]
    notes: list[str] = field(default_factory=list)  # restic's stderr, e.g. why nothing matched


@dataclass(frozen=True)
class CheckReport:
    damaged: bool
    problems: list[str]   # restic's own error lines, e.g. "Pack ID does not match, want …, got …"
    stdout: list[str]


class JsonMessages:
    """Feeds each JSON line restic prints on stdout to `message`; plain-text lines are skipped."""

    def stdout(self, line: str) -> None:
        msg = json_line(line)
        if msg is not None:
            self.message(msg)

    def message(self, msg: dict) -> None:
        raise NotImplementedError


class BackupMessages(JsonMessages):
    """Collects what `restic backup --json` prints: one summary, per-file errors and status lines.

    restic 0.14 prints per-file errors as JSON on stderr (and on stdout in some versions), so
    both streams are fed here."""

    def __init__(self, on_status: Callable[[dict], None] | None = None):
        self._on_status = on_status
        self._summary: dict | None = None
        self.errors: list[str] = []

    def message(self, msg: dict) -> None:
        kind = msg.get("message_type")
        if kind == "summary":
            self._summary = msg
        elif kind == "error":
            self.errors.append(error_text(msg))
        elif kind == "status" and self._on_status:
            self._on_status(msg)

    def stderr(self, line: str) -> None:
        msg = json_line(line)
        if msg and msg.get("message_type") == "error":
            self.errors.append(error_text(msg))

    def summary(self) -> BackupSummary:
        if self._summary is None:
            raise errors.ResticError("backup: restic finished without a summary line")
        return BackupSummary.from_json(self._summary, self.errors)


class ListingMessages(JsonMessages):
    """Collects `restic ls --json`: the first snapshot line, then one node per line."""

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None
        self.nodes: list[Node] = []

    def message(self, msg: dict) -> None:
        if msg.get("struct_type") == "node":
            self.nodes.append(Node.from_json(msg))
        elif msg.get("struct_type") == "snapshot" and self.snapshot is None:
            self.snapshot = Snapshot.from_json(msg)


def parse_snapshots(stdout: list[str]) -> list[Snapshot]:
    """`restic snapshots --json`, oldest first."""
    data = json.loads("\n".join(stdout) or "[]") or []
    return sorted((Snapshot.from_json(s) for s in data), key=lambda s: s.time)


def parse_forget(stdout: list[str]) -> list[dict]:
    """`restic forget --json`: the groups line (other lines are progress text)."""
    for line in stdout:
        line = line.strip()
        if line.startswith("["):
            return json.loads(line) or []
    return []


def parse_raw_size(stdout: list[str]) -> int:
    """`restic stats --json --mode raw-data`: bytes stored in the repository."""
    data = json.loads("\n".join(stdout) or "{}")
    return int(data.get("total_size", 0))


def parse_restic_time(text: str) -> datetime:
    """restic prints RFC 3339 with nanoseconds and a zone offset; Python takes microseconds."""
    text = text.strip().replace("Z", "+00:00")
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match:
        frac = (match.group(2) or "")[:7]
        text = match.group(1) + frac + match.group(3)
    return datetime.fromisoformat(text)


def json_line(line: str) -> dict | None:
    """One JSON object per line; None for restic's plain-text lines."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def error_text(msg: dict) -> str:
    """restic 0.14 marshals Go errors as {"Op","Path","Err"} (or {} when it cannot)."""
    err = msg.get("error")
    item = msg.get("item", "")
    if isinstance(err, dict):
        if "Err" in err and isinstance(err["Err"], int):
            text = f"{err.get('Op', 'access')}: {os.strerror(err['Err'])}"
        else:
            text = err.get("message") or f"error during {msg.get('during', 'backup')}"
    else:
        text = str(err or f"error during {msg.get('during', 'backup')}")
    return f"{item}: {text}" if item else text


_COPY_SOURCE = re.compile(r"^snapshot ([0-9a-f]{8,64}) of \[")
_COPY_SAVED = re.compile(r"^snapshot ([0-9a-f]{8,64}) saved$")
_COPY_SKIPPED = re.compile(r"^skipping source snapshot ([0-9a-f]{8,64}), was already copied to snapshot ([0-9a-f]{8,64})$")


@dataclass(frozen=True)
class CopyReport:
    """What `restic copy` did (restic 0.14 has no --json for copy: its text lines are parsed).

    `copied` pairs each source snapshot's short id with the new snapshot's short id in the
    destination; `skipped` are source snapshots the destination already had.
    """

    copied: list[tuple[str, str]]
    skipped: list[str]


def parse_copy(lines: list[str]) -> CopyReport:
    """restic prints "snapshot SRC of [paths] at TIME)", then "snapshot DST saved" once copied, or
    "skipping source snapshot SRC, was already copied to snapshot DST"."""
    copied: list[tuple[str, str]] = []
    skipped: list[str] = []
    source: str | None = None
    for raw in lines:
        line = raw.strip()
        if match := _COPY_SKIPPED.match(line):
            skipped.append(match.group(1))
        elif match := _COPY_SOURCE.match(line):
            source = match.group(1)
        elif (match := _COPY_SAVED.match(line)) and source is not None:
            copied.append((source, match.group(1)))
            source = None
    return CopyReport(copied, skipped)
