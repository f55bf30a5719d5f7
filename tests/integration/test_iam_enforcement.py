"""The policies `drkit iam-policy` prints, enforced by moto_server's IAM (INITIAL_NO_AUTH_ACTION_COUNT,
switched on through /moto-api/reset-auth once the users exist): the backup key backs up but
cannot delete; drill, audit and copy keys do their job but cannot delete or overwrite an object
of the primary (the copy key writes the copy, and cannot delete there either)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from factories import make_env
from servers import S3Server, free_port

pytestmark = pytest.mark.slow

# moto names the IAM action of HEAD bucket `s3:HeadBucket`; AWS authorizes it with s3:ListBucket,
# which the generated policies grant. This shim stands in for that mapping, nothing more.
MOTO_HEAD_BUCKET = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:HeadBucket", "Resource": "arn:aws:s3:::*"}]}


@pytest.fixture(scope="module")
def iam_moto() -> Iterator[S3Server]:
    """A moto_server of its own (IAM enforcement is process-wide; the shared moto_server must not get it)."""
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto_server did not start on {endpoint}", pytrace=False)
            time.sleep(0.1)
    yield S3Server(endpoint=endpoint, access_key="testing", secret_key="testing", kind="moto-iam")
    proc.terminate()
    proc.wait(timeout=10)


def _user(iam, name: str, document: dict) -> dict[str, str]:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="drkit", PolicyDocument=json.dumps(document))
    iam.put_user_policy(UserName=name, PolicyName="moto-head-bucket", PolicyDocument=json.dumps(MOTO_HEAD_BUCKET))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def _s3(server: S3Server, keys: dict[str, str]):
    return S3Server(server.endpoint, keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"]).client()


def _denied(call, **kwargs) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"]


def test_role_keys_can_do_their_job_and_no_more(tmp_path, iam_moto, source):
    bucket, copy_bucket = "vault-iam", "vault-copy"
    iam_moto.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    iam_moto.client().create_bucket(Bucket=copy_bucket)
    env = make_env(tmp_path, iam_moto, bucket)
    copy_url = f"s3:{env.endpoint}/{copy_bucket}/vault"
    env.write_policy("vault", [source], repository=None, repositories=[
        {"url": f"s3:{env.endpoint}/{bucket}/vault", "password_file": str(env.password_file),
         "require_object_lock": True, "lock_days": 3},
        {"name": "copy", "url": copy_url, "password_file": str(env.password_file)}])
    iam = boto3.client("iam", endpoint_url=iam_moto.endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    keys = {role: _user(iam, f"drkit-{role}", json.loads(env.drkit("iam-policy", "vault", "--role", role,
                                                                   check=0).stdout))
            for role in ("backup", "drill", "audit", "copy")}
    urllib.request.urlopen(urllib.request.Request(f"{iam_moto.endpoint}/moto-api/reset-auth", data=b"0",
                                                  headers={"Content-Type": "text/plain"}), timeout=10)
    assert _denied(iam_moto.client().list_objects_v2, Bucket=bucket) == "InvalidAccessKeyId"  # enforced now

    as_backup = env.env(**keys["backup"])
    env.drkit("repo", "init", "vault", "--repository", "primary", check=0, env=as_backup)  # the copy: below
    backup = env.drkit("-v", "backup", "vault", check=0, env=as_backup)
    assert "could not" not in backup.stderr and "upload" not in backup.stderr.lower(), backup.stderr

    drill = env.drkit("restore-drill", "vault", check=0, env=env.env(**keys["drill"]))
    assert "\nPASS vault: recovered" in drill.stdout and drill.stderr == "", drill.stderr  # evidence uploaded too
    env.drkit("repo", "audit", "vault", check=0, env=env.env(**keys["audit"]))

    # the copy key initializes the copy from the primary and copies into it with plain restic 0.14
    as_copy = env.env(**keys["copy"], RESTIC_REPOSITORY=copy_url, RESTIC_PASSWORD_FILE=str(env.password_file))
    from_primary = ["--from-repo", f"s3:{env.endpoint}/{bucket}/vault", "--from-password-file", str(env.password_file)]
    for args in (["init", *from_primary, "--copy-chunker-params"], ["copy", *from_primary]):
        done = subprocess.run(["restic", *args], capture_output=True, text=True, env=as_copy, timeout=300)
        assert done.returncode == 0, done.stderr
    copier = _s3(iam_moto, keys["copy"])
    copied = copier.list_objects_v2(Bucket=copy_bucket, Prefix="vault/data/")["Contents"][0]["Key"]
    assert _denied(copier.delete_object, Bucket=copy_bucket, Key=copied) == "AccessDenied"

    reader = _s3(iam_moto, keys["audit"])
    pack = reader.list_objects_v2(Bucket=bucket, Prefix="vault/data/")["Contents"][0]["Key"]
    version = reader.head_object(Bucket=bucket, Key=pack)["VersionId"]
    for role in ("drill", "audit", "copy"):
        client = _s3(iam_moto, keys[role])
        assert client.get_object(Bucket=bucket, Key=pack)["Body"].read()
        assert _denied(client.delete_object, Bucket=bucket, Key=pack) == "AccessDenied"
        assert _denied(client.put_object, Bucket=bucket, Key=pack, Body=b"ransom") == "AccessDenied"
        assert _denied(client.put_object, Bucket=bucket, Key="vault/config", Body=b"ransom") == "AccessDenied"
    writer = _s3(iam_moto, keys["backup"])
    assert _denied(writer.delete_object, Bucket=bucket, Key=pack) == "AccessDenied"
    assert _denied(writer.delete_object, Bucket=bucket, Key=pack, VersionId=version) == "AccessDenied"
    assert _denied(writer.put_bucket_versioning, Bucket=bucket,
                   VersioningConfiguration={"Status": "Suspended"}) == "AccessDenied"
    assert reader.get_object(Bucket=bucket, Key=pack)["VersionId"] == version  # untouched
