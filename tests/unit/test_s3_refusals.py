"""A refused read is not a missing setting: `S3.state()` must not turn AccessDenied on the Object
Lock configuration into "no Object Lock" (repo init, doctor and status would then blame the bucket
instead of the key). moto in-process stands in for the bucket; the refusal is injected as the
server's answer to that one request."""

from __future__ import annotations

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from drkit.core import errors
from drkit.core.policy import Repository
from drkit.engines.s3 import S3


def refuse(operation: str):
    def answer(**_kwargs):
        error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                 "ResponseMetadata": {"HTTPStatusCode": 403}}
        return AWSResponse("https://s3.amazonaws.com/", 403, {}, None), error  # answers instead of the server
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
