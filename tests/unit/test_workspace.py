"""Workspace: one S3 and one Restic per repository of a policy; evidence names its repository and
goes to that repository's bucket (boto3 against moto in-process)."""

from datetime import datetime, timezone

import boto3
import pytest
from moto import mock_aws

from drkit.core.errors import UsageError
from drkit.core.policy import Policy
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record, load_public_key, signature_problem

T0 = datetime(2026, 11, 20, 1, 30, tzinfo=timezone.utc)


def policy(*repositories: dict) -> Policy:
    return Policy.model_validate({
        "version": 1, "name": "shop", "objectives": {"rpo": "24h", "rto": "4h"},
        "targets": [{"path": "/srv/shop"}], "repositories": list(repositories)})


def aws(name: str, bucket: str) -> dict:
    return {"name": name, "url": f"s3:https://s3.eu-north-1.amazonaws.com/{bucket}/shop", "password_env": "PW"}


def local(name: str, tmp_path) -> dict:
    return {"name": name, "url": f"local:{tmp_path / name}", "password_env": "PW"}


def backup_record(**fields) -> Record:
    return Record(kind="backup", policy="shop", started_at=T0, finished_at=T0, result="pass", **fields)


def test_record_names_the_first_repository_unless_it_names_its_own(tmp_path):
    ws = Workspace(tmp_path / "state")
    pol = policy(local("main", tmp_path), local("copy", tmp_path))
    first = ws.record(pol, backup_record())
    second = ws.record(pol, backup_record(repository="copy"))
    assert (first.repository, second.repository) == ("main", "copy")
    key_id, key = load_public_key(ws.key.public_pem())
    assert signature_problem(second, {key_id: key}) is None
    assert signature_problem(second.model_copy(update={"repository": "main"}), {key_id: key}) is not None


def test_record_for_an_unknown_repository_is_refused(tmp_path):
    ws = Workspace(tmp_path / "state")
    with pytest.raises(UsageError, match="no repository named 'elsewhere'"):
        ws.record(policy(local("main", tmp_path)), backup_record(repository="elsewhere"))
    assert ws.catalog.chain_head("shop") is None


def test_s3_and_restic_are_per_repository_and_default_to_the_first(tmp_path, monkeypatch):
    monkeypatch.setenv("PW", "pw")
    ws = Workspace(tmp_path / "state")
    pol = policy(aws("primary", "bucket-a"), aws("offsite-2", "bucket-b"))
    assert ws.s3(pol) is ws.s3(pol, "primary")
    assert ws.s3(pol, "offsite-2").location.bucket == "bucket-b"
    assert ws.s3(pol, "offsite-2") is ws.s3(pol, "offsite-2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SK")
    assert ws.restic(pol).repo.name == "primary"
    env = ws.restic(pol, "offsite-2").env()
    assert env["RESTIC_REPOSITORY"] == "s3:https://s3.eu-north-1.amazonaws.com/bucket-b/shop"
    with pytest.raises(UsageError, match=r"known: primary, offsite-2"):
        ws.restic(pol, "offsite-3")


def test_evidence_is_uploaded_to_every_repository_bucket(tmp_path, monkeypatch):
    """Every bucket holds every record (docs/repositories.md), so any one alone rebuilds the catalog."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-north-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="eu-north-1")
        for bucket in ("bucket-a", "bucket-b"):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-north-1"})
        ws = Workspace(tmp_path / "state")
        pol = policy(aws("primary", "bucket-a"), aws("offsite-2", "bucket-b"))
        offsite = ws.record(pol, backup_record(repository="offsite-2"))
        first = ws.record(pol, backup_record())

        def keys(bucket: str) -> list[str]:
            return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))

        both = sorted(f"drkit-evidence/shop/20261120T013000000000Z-backup-{r.digest()[:12]}.json" for r in (offsite, first))
        for bucket in ("bucket-a", "bucket-b"):
            assert [k for k in keys(bucket) if k.endswith(".json")] == both
        assert offsite.repository == "offsite-2" and first.repository == "primary"
        for bucket in ("bucket-a", "bucket-b"):
            assert f"drkit-evidence/keys/{ws.key.key_id}.pem" in keys(bucket)
        assert ws.catalog.pending_uploads("shop") == []
        assert ws.catalog.pending_uploads_to("shop", "offsite-2", "primary") == []


def test_an_unreachable_bucket_only_delays_its_copy_of_the_evidence(tmp_path, monkeypatch, caplog):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-north-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="eu-north-1")
        client.create_bucket(Bucket="bucket-a", CreateBucketConfiguration={"LocationConstraint": "eu-north-1"})
        ws = Workspace(tmp_path / "state")
        pol = policy(aws("primary", "bucket-a"), aws("offsite-2", "bucket-b"))  # bucket-b does not exist yet
        record = ws.record(pol, backup_record())
        assert "upload to repository offsite-2 failed" in caplog.text
        assert ws.catalog.pending_uploads("shop") == []  # its own bucket has it
        assert [r.digest() for r in ws.catalog.pending_uploads_to("shop", "offsite-2", "primary")] == [record.digest()]
        client.create_bucket(Bucket="bucket-b", CreateBucketConfiguration={"LocationConstraint": "eu-north-1"})
        ws.record(pol, backup_record(errors=["a second record"]))
        names = [o["Key"] for o in client.list_objects_v2(Bucket="bucket-b")["Contents"] if o["Key"].endswith(".json")]
        assert len(names) == 2 and ws.catalog.pending_uploads_to("shop", "offsite-2", "primary") == []


def test_a_copy_reads_its_source_from_restic_from_variables_never_argv(tmp_path, monkeypatch):
    monkeypatch.setenv("PW", "secret")
    ws = Workspace(tmp_path / "state")
    pol = Policy.model_validate({
        "version": 1, "name": "shop", "objectives": {"rpo": "24h", "rto": "4h"}, "targets": [{"path": "/srv/shop"}],
        "repositories": [{"name": "primary", "url": f"local:{tmp_path / 'a'}", "password_file": "/k/a.pass"},
                         {"name": "copy", "url": f"local:{tmp_path / 'b'}", "password_env": "PW"},
                         {"name": "third", "url": f"local:{tmp_path / 'c'}", "password_command": ["pass", "show", "x"]}]})
    env = ws.restic(pol, "copy", source="primary").env()
    assert env["RESTIC_REPOSITORY"] == str(tmp_path / "b") and env["RESTIC_PASSWORD"] == "secret"
    assert env["RESTIC_FROM_REPOSITORY"] == str(tmp_path / "a") and env["RESTIC_FROM_PASSWORD_FILE"] == "/k/a.pass"
    assert ws.restic(pol, "primary", source="third").env()["RESTIC_FROM_PASSWORD_COMMAND"] == "pass show x"
    assert ws.restic(pol, "primary", source="copy").env()["RESTIC_FROM_PASSWORD"] == "secret"
    assert not any(k.startswith("RESTIC_FROM_") for k in ws.restic(pol, "copy").env())


def test_a_copy_between_buckets_with_different_keys_is_refused_up_front(tmp_path, monkeypatch):
    monkeypatch.setenv("PW", "secret")
    config = tmp_path / "aws-config"
    config.write_text("[profile other]\naws_access_key_id = OTHER\naws_secret_access_key = othersecret\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SK")
    ws = Workspace(tmp_path / "state")
    pol = policy(aws("primary", "bucket-a"), aws("offsite-2", "bucket-b") | {"aws_profile": "other"})
    with pytest.raises(UsageError, match=r"repositories primary and offsite-2 use different S3 credentials"):
        ws.restic(pol, "offsite-2", source="primary")
    same = policy(aws("primary", "bucket-a"), aws("offsite-2", "bucket-b"))
    assert ws.restic(same, "offsite-2", source="primary").env()["AWS_ACCESS_KEY_ID"] == "AK"


def test_records_uploaded_before_per_repository_uploads_count_as_in_their_own_bucket(tmp_path):
    from drkit.engines.catalog import Catalog

    catalog = Catalog(tmp_path / "catalog.sqlite")
    legacy = backup_record()  # no `repository`: the first's
    named = backup_record(repository="offsite-2", errors=["second"])
    catalog.add_record(legacy, uploaded=True)
    catalog.add_record(named, uploaded=True)
    assert [r.digest() for r in catalog.pending_uploads_to("shop", "primary", "primary")] == [named.digest()]
    assert [r.digest() for r in catalog.pending_uploads_to("shop", "offsite-2", "primary")] == [legacy.digest()]
    catalog.mark_uploaded_to([legacy.digest()], "offsite-2")
    assert catalog.pending_uploads_to("shop", "offsite-2", "primary") == []
