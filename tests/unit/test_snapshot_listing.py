"""The listing by difference after a backup (drkit/engines/restic/layout.py, catalog
`update_snapshots`) and the cached restic version (engines/restic/version.py)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from drkit.core import errors
from drkit.core.policy import Repository
from drkit.engines.catalog import Catalog, SnapshotRow
from drkit.engines.restic import layout
from drkit.engines.restic.version import cached_version

A, B, C = "a" * 64, "ab" + "c" * 62, "0123" * 16


def test_local_repository_ids_are_the_snapshot_file_names(tmp_path):
    (tmp_path / "repo" / "snapshots").mkdir(parents=True)
    for name in (A, B, "not-an-id", "tmp-" + C):
        (tmp_path / "repo" / "snapshots" / name).write_bytes(b"x")
    repo = Repository(url=f"local:{tmp_path / 'repo'}", password_file=tmp_path / "pw")
    assert layout.snapshot_ids(repo, None) == {A, B}
    assert layout.snapshot_ids(repo, None, starting="ab") == {B}  # a backup's own snapshot, by its short id


def test_s3_ids_come_from_the_prefix_listing():
    asked = []

    def list_keys(prefix: str) -> list[str]:
        asked.append(prefix)  # S3 answers the keys that start with the prefix
        return [key for key in (f"site/main/snapshots/{A}", f"site/main/snapshots/{C}") if key.startswith(prefix)]

    repo = Repository(url="s3:http://h/bucket/site/main", password_env="PW")
    assert layout.snapshot_ids(repo, list_keys, "site/main") == {A, C} and asked == ["site/main/snapshots/"]
    assert layout.snapshot_ids(repo, list_keys, "site/main", starting="0123") == {C}
    assert asked[-1] == "site/main/snapshots/0123"  # one request for one name, whatever the repository holds


def test_unreadable_local_repository_is_a_restic_error(tmp_path):
    repo = Repository(url=f"local:{tmp_path / 'missing'}", password_file=tmp_path / "pw")
    with pytest.raises(errors.ResticError, match="cannot read"):
        layout.snapshot_ids(repo, None)


def test_full_id_needs_one_unique_match():
    assert layout.full_id({A, B, C}, "0123") == C
    assert layout.full_id({A, B, C}, "a") is None     # a and ab… both match
    assert layout.full_id({A, B}, "ffff") is None
    assert layout.full_id({A}, "") is None


def test_update_by_difference_adds_removes_and_stamps(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    catalog.replace_snapshots("p", [SnapshotRow("p", A, when, "h", ["drkit"]), SnapshotRow("p", B, when, "h", [])])
    catalog.update_snapshots("p", [SnapshotRow("p", C, when, "other", ["by-hand"])], {A})
    assert catalog.snapshot_ids("p") == {B, C}
    assert catalog.listed_at("p") is not None
    assert [r.hostname for r in catalog.snapshots("p") if r.id == C] == ["other"]


def test_restic_version_is_cached_per_binary_and_read_again_when_it_changes(tmp_path):
    cache = tmp_path / "restic-version.json"
    version = cached_version("restic", cache)
    saved = json.loads(cache.read_text())
    assert saved["version"] == ".".join(map(str, version)) and saved["binary"]["path"].endswith("restic")
    saved["version"] = "0.13.0"  # the cache is what answers while the binary is unchanged
    cache.write_text(json.dumps(saved))
    with pytest.raises(errors.ResticTooOld):
        cached_version("restic", cache)
    saved["binary"]["mtime_ns"] -= 1  # another binary (an upgrade): restic is asked again
    cache.write_text(json.dumps(saved))
    assert cached_version("restic", cache) == version


def test_environment_keys_reach_restic_without_boto3_unless_a_profile_decides(monkeypatch, tmp_path):
    """Keys in the environment are the first link of boto3's chain: read directly (boto3 is then
    imported while restic runs); the policy's `aws_profile` goes through boto3."""
    from drkit.engines.s3 import S3

    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-example")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-example")
    s3 = S3(Repository(url="s3:http://127.0.0.1:1/bucket/site", password_env="PW"))
    assert s3.credentials_env() == {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-example",
                                    "AWS_SESSION_TOKEN": "token-example", "AWS_DEFAULT_REGION": "us-east-1"}
    assert "session" not in vars(s3)  # no boto3 session was built for it

    (tmp_path / "config").write_text("[profile other]\nregion = eu-west-1\n")
    (tmp_path / "credentials").write_text("[other]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = s2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    s3 = S3(Repository(url="s3:http://127.0.0.1:1/bucket/site", password_env="PW", aws_profile="other"))
    assert s3.credentials_env()["AWS_ACCESS_KEY_ID"] == "AKIAPROFILE"  # the policy's profile, through boto3
