"""The S3 contract of drkit/engines/s3.py, litestream-style: the same tests against every S3 server
drkit is tested on (SeaweedFS and moto_server, both over HTTP), so a copy repository on another
provider behaves like the primary (docs/repositories.md, "Copies"). A server that lacks a feature
skips that test and says which."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from drkit.core import errors
from drkit.core.policy import Repository
from drkit.engines.s3 import S3

pytestmark = pytest.mark.slow

SERVERS = ("seaweedfs", "moto_server")


@pytest.fixture(params=SERVERS)
def server(request, monkeypatch):
    found = request.getfixturevalue(request.param)
    found.start()  # a no-op unless an earlier test left it stopped
    for name, value in found.env().items():
        monkeypatch.setenv(name, value)
    return found


def s3_on(server, bucket: str) -> S3:
    return S3(Repository(url=f"s3:{server.endpoint}/{bucket}/shop", password_file="/dev/null"))


@pytest.fixture
def s3(server) -> S3:
    store = s3_on(server, f"k-{uuid.uuid4().hex[:8]}")
    store.create_bucket(object_lock=False)
    return store


def test_evidence_objects_round_trip(s3):
    key = s3.evidence_prefix("shop") + "20261123T010000000000Z-backup-0123456789ab.json"
    assert s3.evidence_prefix("shop") == "drkit-evidence/shop/"  # beside the repository directory
    s3.put_bytes(key, b'{"kind": "backup"}')
    assert s3.get_bytes(key) == b'{"kind": "backup"}'
    assert s3.object_size(key) == len(b'{"kind": "backup"}')
    assert s3.list_keys(s3.evidence_prefix("shop")) == [key]
    s3.put_bytes(key, b"{}")  # overwrite: same key, new body
    assert s3.get_bytes(key) == b"{}"
    s3.delete_key(key)
    assert s3.object_size(key) is None and s3.list_keys(s3.evidence_prefix("shop")) == []


def test_prefix_listing_keeps_to_its_prefix(s3):
    keys = ["drkit-evidence/shop/a.json", "drkit-evidence/shop/b.json", "drkit-evidence/shop2/c.json",
            "drkit-evidence/keys/k.pem", "shop/config"]
    for key in keys:
        s3.put_bytes(key, key.encode())
    assert sorted(s3.list_keys("drkit-evidence/shop/")) == keys[:2]
    assert s3.list_keys(s3.keys_prefix()) == ["drkit-evidence/keys/k.pem"]
    assert sorted(s3.list_keys("")) == sorted(keys)
    assert s3.list_keys("nothing/here/") == []


def test_a_missing_key_is_a_typed_error_naming_the_bucket(s3):
    with pytest.raises(errors.S3Error, match=rf"download: NoSuchKey \(bucket '{s3.location.bucket}'\)"):
        s3.get_bytes("drkit-evidence/shop/missing.json")
    assert s3.object_size("drkit-evidence/shop/missing.json") is None


def test_a_missing_bucket_is_a_typed_error(server):
    store = s3_on(server, f"gone-{uuid.uuid4().hex[:8]}")
    assert store.bucket_exists() is False
    for call in (lambda: store.list_keys("drkit-evidence/"), lambda: store.get_bytes("k")):
        with pytest.raises(errors.S3Error, match=rf"NoSuchBucket \(bucket '{store.location.bucket}'\)"):
            call()
    if server.kind == "seaweedfs":
        # SeaweedFS (an identity with Admin rights, as in tests/servers.py) creates a missing bucket
        # on the first PUT instead of answering NoSuchBucket: `drkit repo init` stays the way to make one.
        store.put_bytes("k", b"x")
        assert store.bucket_exists() is True
        return
    with pytest.raises(errors.S3Error, match=rf"upload: NoSuchBucket \(bucket '{store.location.bucket}'\)"):
        store.put_bytes("k", b"x")


def test_bucket_state_without_object_lock(s3):
    state = s3.state()
    assert state.exists and state.object_lock is False and state.default_retention is None
    assert state.versioning in ("Off", "Suspended")


def test_object_lock_retention_after_backup(server):
    store = s3_on(server, f"l-{uuid.uuid4().hex[:8]}")
    store.create_bucket(object_lock=True)
    state = store.state()
    assert state.object_lock is True and state.versioning == "Enabled"  # Object Lock implies versioning
    store.put_bytes("shop/data/pack-1", b"pack")
    store.put_bytes("shop/locks/lock-1", b"lock")  # restic's locks must stay deletable
    until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert store.lock_new_objects(since, until) == 1
    head = store.client.head_object(Bucket=store.location.bucket, Key="shop/data/pack-1")
    if "ObjectLockMode" not in head:
        pytest.skip(f"{server.kind} does not report per-object retention in HEAD (ObjectLockMode)")
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockRetainUntilDate"] == until
    version = head["VersionId"]
    with pytest.raises(errors.S3Error, match="AccessDenied|refused"):
        store._call("delete locked version", store.client.delete_object, Bucket=store.location.bucket,
                    Key="shop/data/pack-1", VersionId=version)
