"""Signed evidence records: one per backup, drill, check, forget and restore (docs/evidence.md).

A record is canonical JSON (sorted keys, UTC times with microseconds and `Z`), signed with the
host's Ed25519 key over the canonical JSON without `signature`. `prev` is the sha256 of the same
policy's previous record (canonical JSON including its signature), so a deleted or edited record
breaks the chain and `drkit evidence verify` finds it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from drkit import __version__

if TYPE_CHECKING:  # cryptography is imported where keys are used: commands that only read the catalog skip it
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SCHEMA = "drkit.evidence/1"
Kind = Literal["backup", "drill", "check", "forget", "restore", "copy"]
# "missed": a scheduled run that never started (docs/evidence.md); it made no snapshot and proves nothing.
Outcome = Literal["pass", "fail", "breach", "error", "partial", "interrupted", "missed"]
RAN = ("pass", "fail", "breach", "error", "partial", "interrupted")  # results of runs that started


def utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


# Fields added after records were first signed: left out of the canonical JSON while empty.
_ADDED_LATER = ("repository",)


class Record(BaseModel):
    """One evidence record. Field names are the on-disk format; do not rename."""

    model_config = ConfigDict(extra="forbid")

    schema_: str = Field(SCHEMA, alias="schema")
    kind: Kind
    policy: str
    host: str = Field(default_factory=socket.gethostname)
    drkit_version: str = __version__
    restic_version: str = ""
    started_at: datetime
    finished_at: datetime
    result: Outcome
    snapshot_id: str | None = None
    snapshot_time: datetime | None = None
    bytes: int = 0
    files: int = 0
    phases: dict[str, float] = {}
    objectives: dict[str, float] = {}
    measured: dict[str, Any] = {}
    errors: list[str] = []
    repository: str | None = None  # the policy's repository the run used (docs/evidence.md)
    prev: str | None = None
    key_id: str | None = None
    signature: str | None = None

    @field_validator("started_at", "finished_at", "snapshot_time", mode="before")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_utc(value)
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc)
        return value

    @field_serializer("started_at", "finished_at", "snapshot_time")
    def _ser_time(self, value: datetime | None) -> str | None:
        return utc_text(value) if value else None

    def body(self, *, with_signature: bool) -> dict[str, Any]:
        data = self.model_dump(by_alias=True)
        for name in _ADDED_LATER:  # absent, not null: records signed before the field existed still verify
            if data.get(name) is None:
                data.pop(name, None)
        if not with_signature:
            data.pop("signature", None)
        return data

    def canonical(self, *, with_signature: bool = True) -> bytes:
        return canonical_json(self.body(with_signature=with_signature))

    def digest(self) -> str:
        """sha256 of the full signed record: what the next record's `prev` holds."""
        return hashlib.sha256(self.canonical()).hexdigest()

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class SigningKey:
    """The host's Ed25519 evidence key, generated on first use (0600 in the state dir)."""

    def __init__(self, private: Ed25519PrivateKey):
        from cryptography.hazmat.primitives import serialization

        self.private = private
        self.public_bytes = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = key_id_of(self.public_bytes)

    @classmethod
    def load_or_create(cls, path: Path) -> "SigningKey":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if path.exists():
            return cls(serialization.load_pem_private_key(path.read_bytes(), password=None))  # type: ignore[arg-type]
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return cls(key)

    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, record: Record) -> Record:
        record = record.model_copy(update={"key_id": self.key_id, "signature": None})
        signature = self.private.sign(record.canonical(with_signature=False))
        return record.model_copy(update={"signature": base64.b64encode(signature).decode("ascii")})


def key_id_of(public_bytes: bytes) -> str:
    return hashlib.sha256(public_bytes).hexdigest()[:16]


def load_public_key(pem: bytes) -> tuple[str, Ed25519PublicKey]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key_id_of(raw), key


def signature_problem(record: Record, keys: dict[str, Ed25519PublicKey]) -> str | None:
    """None when the signature holds; else why not."""
    from cryptography.exceptions import InvalidSignature

    if not record.signature or not record.key_id:
        return "record is not signed"
    key = keys.get(record.key_id)
    if key is None:
        return f"unknown signing key {record.key_id}"
    try:
        key.verify(base64.b64decode(record.signature), record.canonical(with_signature=False))
    except (InvalidSignature, ValueError):
        return "signature does not match the record (edited after signing?)"
    return None


def chain_problems(records: list[Record], names: list[str], *, open_start: bool = False) -> list[str]:
    """Check one policy's records (in chain order) link by `prev`; name each break.

    `open_start`: the records are a slice of a longer chain (e.g. files given by hand), so the
    first may point at a record that is not among them."""
    problems: list[str] = []
    by_digest = {r.digest(): n for r, n in zip(records, names)}
    for i, (record, name) in enumerate(zip(records, names)):
        expected = records[i - 1].digest() if i else None
        if record.prev == expected or (i == 0 and open_start and record.prev not in by_digest):
            continue
        if i == 0 and record.prev is not None:
            problems.append(f"{name}: chain starts with a missing record (prev {record.prev[:12]}… not found)")
        elif record.prev is None:
            problems.append(f"{name}: chain restarts (prev is empty) although earlier records exist")
        elif record.prev in by_digest:
            problems.append(f"{name}: out of order (prev points at {by_digest[record.prev]})")
        else:
            problems.append(f"{name}: record before it is missing or altered (prev {record.prev[:12]}… not found)")
    return problems


def order_chain(records: list[Record]) -> list[Record]:
    """Chain order: follow `prev` links; records that link nowhere go by finished_at."""
    return sorted(records, key=lambda r: (r.finished_at, r.started_at))


_OBJECT_DIGEST = re.compile(r"-([0-9a-f]{12})\.json$")


def digest_in_name(key: str) -> str | None:
    """The 12-hex digest prefix an object name carries (see object_name), or None."""
    match = _OBJECT_DIGEST.search(key)
    return match.group(1) if match else None


def object_name(record: Record) -> str:
    stamp = record.finished_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{record.kind}-{record.digest()[:12]}.json"
