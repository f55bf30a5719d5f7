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


def test_s3_ids_come_from_the_prefix_listing():
    asked = []

    def list_keys(prefix: str) -> list[str]:
        asked.append(prefix)
        return [f"{prefix}{A}", f"{prefix}{C}"]

    repo = Repository(url="s3:http://h/bucket/site/main", password_env="PW")
    assert layout.snapshot_ids(repo, list_keys, "site/main") == {A, C} and asked == ["site/main/snapshots/"]


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
