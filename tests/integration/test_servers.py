"""The S3 server fixtures serve real S3 over HTTP that boto3 and restic 0.14 both use."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request

import botocore.exceptions
import pytest
from servers import S3Server

pytestmark = pytest.mark.slow

RESTIC_PASSWORD = "fixture-test-password"


def restic(server, repo: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run real restic against SERVER with credentials and password only in its environment."""
    binary = shutil.which("restic")
    assert binary, "restic is not installed: run scripts/test (it installs the Debian package)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "AWS_"))}
    env.update(server.env(), RESTIC_PASSWORD=RESTIC_PASSWORD)
    return subprocess.run(
        [binary, "--no-cache", "-r", repo, *args],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )


def assert_restic_repo_starts_empty(server, bucket: str) -> None:
    repo = server.restic_url(bucket, "repo")
    init = restic(server, repo, "init")
    assert init.returncode == 0, init.stderr
    assert "created restic repository" in init.stdout
    snapshots = restic(server, repo, "snapshots", "--json")
    assert snapshots.returncode == 0, snapshots.stderr
    assert json.loads(snapshots.stdout) == []
    # restic really wrote to this bucket (not somewhere else): its config object is there.
    keys = [o["Key"] for o in server.client().list_objects_v2(Bucket=bucket, Prefix="repo/")["Contents"]]
    assert "repo/config" in keys


def test_seaweedfs_is_healthy_and_checks_credentials(seaweedfs):
    assert seaweedfs.kind == "seaweedfs"
    assert seaweedfs.endpoint.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(f"{seaweedfs.endpoint}/healthz", timeout=5) as response:
        assert response.status == 200
    seaweedfs.client().list_buckets()
    intruder = S3Server(seaweedfs.endpoint, seaweedfs.access_key, "wrong-secret")
    with pytest.raises(botocore.exceptions.ClientError):
        intruder.client().list_buckets()


def test_bucket_fixture_gives_a_fresh_writable_bucket(seaweedfs, bucket):
    s3 = seaweedfs.client()
    assert bucket.startswith("t-") and bucket == bucket.lower() and len(bucket) == 10
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hello")
    assert s3.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == b"hello"


def test_restic_inits_an_empty_repository_on_seaweedfs(seaweedfs, bucket):
    assert_restic_repo_starts_empty(seaweedfs, bucket)


def test_restic_inits_an_empty_repository_on_moto(moto_server):
    assert moto_server.kind == "moto"
    moto_server.client().create_bucket(Bucket="t-moto-restic")
    assert_restic_repo_starts_empty(moto_server, "t-moto-restic")


def test_seaweedfs_stop_refuses_connections_and_start_brings_data_back(seaweedfs, bucket):
    s3 = seaweedfs.client()
    s3.put_object(Bucket=bucket, Key="kept.txt", Body=b"survives a crash")
    endpoint = seaweedfs.endpoint
    seaweedfs.stop()
    try:
        assert not seaweedfs.running
        with pytest.raises(botocore.exceptions.EndpointConnectionError):
            s3.head_bucket(Bucket=bucket)
    finally:
        seaweedfs.start()
    assert seaweedfs.endpoint == endpoint
    assert seaweedfs.client().get_object(Bucket=bucket, Key="kept.txt")["Body"].read() == b"survives a crash"


def test_moto_server_restarts_on_the_same_port_with_its_buckets(moto_server):
    s3 = moto_server.client()
    s3.create_bucket(Bucket="t-moto-restart")
    s3.put_object(Bucket="t-moto-restart", Key="k", Body=b"v")
    endpoint = moto_server.endpoint
    moto_server.stop()
    try:
        with pytest.raises(botocore.exceptions.EndpointConnectionError):
            s3.list_buckets()
    finally:
        moto_server.start()
    assert moto_server.endpoint == endpoint
    assert moto_server.client().get_object(Bucket="t-moto-restart", Key="k")["Body"].read() == b"v"
