"""Evidence records signed by earlier drkit versions keep verifying (tests/data/evidence/ holds
records and the public key written by drkit 0.1.0 as of commit 2b68b04, before `Record.repository`
and the typed payloads existed)."""

from pathlib import Path

from drkit.evidence.payloads import validate_payload
from drkit.evidence.records import Record, chain_problems, load_public_key, signature_problem

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
