"""Evidence verification without S3: signatures, chains, the catalog as a source, lazy keys."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drkit.core import errors
from drkit.engines.catalog import Catalog
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record, SigningKey
from drkit.evidence.verify import Item, KeyRing, check_items, file_items, parse_item, verify

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


@pytest.fixture
def key(tmp_path) -> SigningKey:
    return SigningKey.load_or_create(tmp_path / "k.pem")


# what real records of each kind carry (drkit/evidence/payloads.py)
MEASURED = {
    "backup": {"data_added": 1, "files_new": 1, "files_changed": 0, "paths": ["/srv"], "manifest": "/m.json",
               "manifest_files": 1, "manifest_sha256": "ab" * 32, "hashed_bytes": 1, "restic_duration_s": 0.5},
    "drill": {"snapshot_selector": "latest", "verify": "full", "rto_s": 14400.0, "rta_s": 12.5},
}


def chain(key: SigningKey, policy: str = "shop", n: int = 4, start: int = 0) -> list[Record]:
    records, prev = [], None
    for i in range(start, start + n):
        kind = "backup" if i % 2 else "drill"
        rec = Record(kind=kind, policy=policy, started_at=T0 + timedelta(hours=i),
                     finished_at=T0 + timedelta(hours=i, minutes=5), result="pass", prev=prev, bytes=i,
                     measured=MEASURED[kind])
        rec = key.sign(rec)
        prev = rec.digest()
        records.append(rec)
    return records


def items(records: list[Record]) -> list[Item]:
    return [Item(f"r{i}", r) for i, r in enumerate(records)]


def keys_of(key: SigningKey) -> dict:
    return {key.key_id: key.private.public_key()}


def test_an_intact_chain_passes_with_a_summary(key):
    report = check_items(items(chain(key) + chain(key, "web", 2)), keys_of(key))
    assert report.ok and report.summary() == "6 records, 2 policies: signatures ok, chains intact"


def test_nothing_to_check_never_reads_as_signatures_ok(key):
    """A new host's empty catalog: "0 records, 0 policies: signatures ok, chains intact" read as a
    pass; the line says there was nothing to verify, and where the records are."""
    report = check_items([], keys_of(key))
    assert report.ok and "signatures ok" not in report.summary()
    assert report.summary().startswith("0 records: nothing to verify in the local catalog")
    assert "drkit catalog rebuild" in report.summary()


def test_an_edited_record_fails_its_signature_and_breaks_the_chain(key):
    records = chain(key)
    records[1] = records[1].model_copy(update={"bytes": 999})
    report = check_items(items(records), keys_of(key))
    assert not report.ok
    assert any(p.startswith("r1: signature does not match") for p in report.problems)
    assert any(p.startswith("r2: record before it is missing or altered") for p in report.problems)


def test_a_deleted_record_is_named_by_its_successor(key):
    records = chain(key)
    del records[2]
    report = check_items(items(records), keys_of(key))
    assert report.problems == ["r2: record before it is missing or altered (prev " + records[2].prev[:12] + "… not found)"]


def test_a_deleted_first_record_is_a_gap_unless_the_chain_is_given_open(key):
    records = chain(key)[1:]
    assert "chain starts with a missing record" in check_items(items(records), keys_of(key)).problems[0]
    assert check_items(items(records), keys_of(key), open_start=True).ok
    broken = records[:1] + records[2:]
    assert not check_items(items(broken), keys_of(key), open_start=True).ok  # gaps inside still count


def test_unknown_key_unsigned_duplicates_and_unparseable(key, tmp_path):
    other = SigningKey.load_or_create(tmp_path / "other.pem")
    records = chain(other, n=2)
    report = check_items(items(records), keys_of(key))
    assert all("unknown signing key" in p for p in report.problems) and len(report.problems) == 2
    unsigned = records[0].model_copy(update={"signature": None})
    assert "record is not signed" in check_items([Item("u", unsigned)], keys_of(other)).problems[0]
    twice = check_items(items(records) + items(records), keys_of(other))
    assert twice.ok and twice.records == 2
    bad = parse_item("bad.json", b"{not json")
    report = check_items([bad], keys_of(key))
    assert bad.record is None and "bad.json: not a valid evidence record" in report.problems[0]


def test_key_ring_reads_remote_sources_only_for_unknown_keys(key, tmp_path):
    other = SigningKey.load_or_create(tmp_path / "other.pem")
    calls = []

    def source():
        calls.append(1)
        return [("s3://b/keys/x.pem", other.public_pem()), ("s3://b/keys/junk.pem", b"junk")]

    ring = KeyRing()
    ring.keys.update(keys_of(key))
    ring.add_source(source)
    ring.cover([key.key_id])
    assert calls == []
    ring.cover([other.key_id])
    ring.cover([other.key_id, "nope"])
    assert calls == [1] and other.key_id in ring.keys
    assert ring.problems and "not an Ed25519 public key" in ring.problems[0]


def test_file_items_read_records_as_stored_in_the_bucket(key, tmp_path):
    paths = []
    for i, rec in enumerate(chain(key, n=3)):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_bytes(rec.canonical())
    assert check_items(file_items(paths), keys_of(key), open_start=True).ok
    data = json.loads(paths[1].read_text())
    data["result"] = "fail"
    paths[1].write_text(json.dumps(data))
    report = check_items(file_items(paths), keys_of(key), open_start=True)
    assert any(p.startswith(f"{paths[1]}: signature does not match") for p in report.problems)


def test_catalog_source_finds_a_record_edited_in_the_database(tmp_path):
    ws = Workspace(tmp_path / "state")
    for rec in chain(ws.key, n=3):
        ws.catalog.add_record(rec)
    assert verify(ws, []).ok
    db = sqlite3.connect(ws.state_dir / "catalog.sqlite")
    row = db.execute("select digest, record from evidence order by finished_at limit 1 offset 1").fetchone()
    db.execute("update evidence set record = ? where digest = ?", (row[1].replace('"bytes":1', '"bytes":7'), row[0]))
    db.commit()
    report = verify(Workspace(tmp_path / "state"), [])
    assert not report.ok
    assert any("edited in the catalog" in p for p in report.problems)
    assert any("signature does not match" in p for p in report.problems)


def test_catalog_source_without_any_key_reports_unknown_keys(tmp_path, key):
    ws = Workspace(tmp_path / "state")
    catalog = Catalog(ws.state_dir / "catalog.sqlite")
    for rec in chain(key, n=2):
        catalog.add_record(rec)
    report = verify(ws, [])
    assert not report.ok and all("unknown signing key" in p for p in report.problems)
    assert not (ws.state_dir / "keys").exists()  # verifying never creates a signing key


def test_a_signed_backup_record_without_its_manifest_digest_fails_verification() -> None:
    from datetime import datetime, timezone

    from drkit.evidence.payloads import BackupMeasured, measured_of
    from drkit.evidence.verify import Item, check_items

    key = SigningKey(Ed25519PrivateKey.generate())
    t0 = datetime(2026, 3, 4, 1, 30, tzinfo=timezone.utc)
    fields = {k: v for k, v in MEASURED["backup"].items() if k != "manifest_sha256"}
    good = key.sign(Record(kind="backup", policy="p", started_at=t0, finished_at=t0, result="pass",
                           measured={**fields, "manifest_sha256": "ab" * 32}))
    renamed = key.sign(Record(kind="backup", policy="p", started_at=t0, finished_at=t0, result="pass",
                              measured={**fields, "manifest_digest": "ab" * 32}, prev=good.digest()))
    assert measured_of(good, BackupMeasured).manifest_sha256 == "ab" * 32
    with pytest.raises(errors.VerificationError, match="manifest_sha256"):
        measured_of(renamed, BackupMeasured)
    report = check_items([Item("good", good), Item("renamed", renamed)], {key.key_id: key.private.public_key()})
    assert [p.split(":")[0] for p in report.problems] == ["renamed"]
