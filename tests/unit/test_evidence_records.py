"""Evidence records signed by earlier drkit versions keep verifying (tests/data/evidence/ holds
records and the public key written by drkit 0.1.0 as of commit 2b68b04, before `Record.repository`
and the typed payloads existed)."""

import stat
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from drkit.evidence.payloads import validate_payload
from drkit.evidence.records import (
    Record,
    SigningKey,
    chain_problems,
    digest_in_name,
    load_public_key,
    object_name,
    parse_utc,
    signature_problem,
    utc_text,
)

DATA = Path(__file__).parents[1] / "data" / "evidence"


def test_records_signed_before_the_repository_field_still_verify():
    [pem] = DATA.glob("*.pem")
    key_id, key = load_public_key(pem.read_bytes())
    files = sorted(DATA.glob("*.json"))
    records = [Record.model_validate_json(f.read_bytes()) for f in files]
    assert [r.kind for r in records] == ["backup", "drill"]
    for file, record in zip(files, records):
        assert record.repository is None
        assert record.canonical() == file.read_bytes()  # so digests, and the next record's prev, still match
        assert signature_problem(record, {key_id: key}) is None
        assert record.schema_ == "drkit.evidence/1" and validate_payload(record) is None
    assert chain_problems(records, [f.name for f in files]) == []


def test_naming_a_repository_after_signing_breaks_the_signature():
    [pem] = DATA.glob("*.pem")
    key_id, key = load_public_key(pem.read_bytes())
    record = Record.model_validate_json(sorted(DATA.glob("*.json"))[0].read_bytes())
    assert signature_problem(record.model_copy(update={"repository": "primary"}), {key_id: key}) is not None


def test_new_records_keep_the_schema_id():
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    assert Record(kind="check", policy="p", started_at=now, finished_at=now, result="pass").schema_ == "drkit.evidence/1"


# --- what mutation testing found unguarded (docs/mutation.md) ----------------------------------------

T = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def record(minutes: int = 0, **fields) -> Record:
    return Record(kind="backup", policy="p", started_at=T + timedelta(minutes=minutes),
                  finished_at=T + timedelta(minutes=minutes + 1), result="pass", **fields)


@pytest.fixture
def far_from_utc(monkeypatch):
    """The host's local zone is not UTC (as on most servers outside UTC)."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_utc_whatever_the_host_s_time_zone(far_from_utc):
    assert utc_text(T.astimezone(timezone(timedelta(hours=-5)))) == "2026-03-01T12:00:00.123456Z"
    assert parse_utc("2026-03-01T17:30:00+05:30").tzinfo == timezone.utc
    assert object_name(record()).startswith("20260301T120100123456Z-backup-")


def test_canonical_json_is_utf8_not_escaped():
    """Records with non-ASCII text must hash the same as when they were signed (docs/evidence.md)."""
    assert record(errors=["disk “full” …"]).canonical().count("“full” …".encode()) == 1


def test_the_key_file_is_private_and_its_directory_too(tmp_path):
    SigningKey.load_or_create(tmp_path / "keys" / "evidence.pem")
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "keys" / "evidence.pem").stat().st_mode) == 0o600


def test_signature_problems_and_key_errors_are_named(tmp_path):
    assert signature_problem(record(), {}) == "record is not signed"
    key = SigningKey.load_or_create(tmp_path / "k.pem")
    signed = key.sign(record())
    assert signature_problem(signed, {}) == f"unknown signing key {key.key_id}"
    assert signature_problem(signed, {key.key_id: key.private.public_key()}) is None
    other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="^not an Ed25519 public key$"):
        load_public_key(other)


def test_every_chain_break_is_named(tmp_path):
    key = SigningKey.load_or_create(tmp_path / "k.pem")
    first = key.sign(record(0))
    second = key.sign(record(1, prev=first.digest()))
    orphan = key.sign(record(2, prev="ab" * 32))
    restart = key.sign(record(3))
    assert chain_problems([second], ["b"]) == [f"b: chain starts with a missing record (prev {first.digest()[:12]}… not found)"]
    assert chain_problems([first, second, orphan, restart], ["a", "b", "c", "d"]) == [
        "c: record before it is missing or altered (prev abababababab… not found)",
        "d: chain restarts (prev is empty) although earlier records exist"]
    assert chain_problems([first, second, second], ["a", "b", "b2"]) == ["b2: out of order (prev points at a)"]


def test_the_digest_in_an_object_name_is_read_back():
    name = object_name(record())
    assert digest_in_name("drkit-evidence/p/" + name) == record().digest()[:12]
    assert digest_in_name("drkit-evidence/keys/0123456789abcdef.pem") is None
