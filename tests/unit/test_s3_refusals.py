"""A refused read is not a missing setting: `S3.state()` must not turn AccessDenied on the Object
Lock configuration into "no Object Lock" (repo init, doctor and status would then blame the bucket
instead of the key). moto in-process stands in for the bucket; the refusal is injected as the
server's answer to that one request."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from drkit.core import errors
from drkit.core.policy import Repository
from drkit.engines.s3 import S3


def refuse(operation: str, code: str = "AccessDenied", status: int = 403):
    def answer(**_kwargs):
        error = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return AWSResponse("https://s3.amazonaws.com/", status, {}, None), error  # answers instead of the server
    return f"before-call.s3.{operation}", answer


@pytest.fixture
def store(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="vault-a", ObjectLockEnabledForBucket=True)
        yield S3(Repository.model_validate({"url": "s3:https://s3.amazonaws.com/vault-a/shop",
                                            "password_file": "/etc/drkit/shop.pass"}))


def test_object_lock_is_read_when_allowed(store):
    assert store.state().object_lock is True


def test_a_refused_object_lock_read_is_an_error_naming_the_permission(store):
    store.client.meta.events.register(*refuse("GetObjectLockConfiguration"))
    with pytest.raises(errors.S3Error) as caught:
        store.state()
    assert "refused the request (AccessDenied)" in str(caught.value) and "vault-a" in str(caught.value)
    assert "s3:GetBucketObjectLockConfiguration" in caught.value.hint


def test_a_refused_request_carries_its_code(store):
    store.client.meta.events.register(*refuse("GetBucketVersioning"))
    with pytest.raises(errors.S3Error) as caught:
        store.state()
    assert caught.value.code == "AccessDenied"


def test_a_failing_server_is_not_a_bucket_without_object_lock(store):
    store.client.meta.events.register(*refuse("GetObjectLockConfiguration", "InternalError", 500))
    with pytest.raises(errors.S3Error, match="InternalError"):
        store.state()


def test_a_listing_that_fails_while_locking_is_an_s3_error(store):
    """Not a bare botocore ClientError: callers turn S3Error into their warning (jobs/backup.py, jobs/copy.py)."""
    store.client.meta.events.register(*refuse("ListObjectsV2"))
    with pytest.raises(errors.S3Error, match="AccessDenied"):
        store.lock_new_objects(datetime.now(timezone.utc) - timedelta(hours=1),
                               datetime.now(timezone.utc) + timedelta(days=1))
