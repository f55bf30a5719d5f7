"""The backup manifest: correct hashes, cheap on re-runs (cache), robust to change."""

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path

from drkit.engines.manifest import Entry, Manifest, build

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)


def tree(root: Path) -> Path:
    (root / "d").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "d" / "b.bin").write_bytes(os.urandom(3 << 20))
    (root / "d" / "skip.tmp").write_text("excluded")
    (root / "link").symlink_to("a.txt")
    return root


def test_hashes_every_regular_file_and_skips_excludes_and_symlinks(tmp_path):
    root = tree(tmp_path / "src")
    manifest, _ = build("p", [root], ["*.tmp"], {}, NOW)
    assert set(manifest.files) == {str(root / "a.txt"), str(root / "d" / "b.bin")}
    entry = manifest.files[str(root / "a.txt")]
    assert entry.sha256 == hashlib.sha256(b"alpha").hexdigest() and entry.size == 5


def test_unchanged_files_reuse_the_cache_and_changed_ones_are_rehashed(tmp_path):
    root = tree(tmp_path / "src")
    first, cache = build("p", [root], [], {}, NOW)
    assert first.hashed_bytes > 3 << 20
    second, cache = build("p", [root], [], cache, NOW)
    assert second.hashed_bytes == 0 and second.files == first.files
    (root / "a.txt").write_text("beta!")  # same size: mtime/ctime give it away
    third, _ = build("p", [root], [], cache, NOW)
    assert third.hashed_bytes == 5
    assert third.files[str(root / "a.txt")].sha256 == hashlib.sha256(b"beta!").hexdigest()


def test_a_poisoned_cache_entry_is_not_trusted_when_metadata_differs(tmp_path):
    root = tree(tmp_path / "src")
    _, cache = build("p", [root], [], {}, NOW)
    path = str(root / "a.txt")
    cache[path] = cache[path].__class__(cache[path].size, cache[path].mtime_ns - 1, cache[path].ctime_ns,
                                        cache[path].inode, "0" * 64)
    manifest, _ = build("p", [root], [], cache, NOW)
    assert manifest.files[path].sha256 == hashlib.sha256(b"alpha").hexdigest()


def test_json_round_trip(tmp_path):
    manifest, _ = build("p", [tree(tmp_path / "src")], [], {}, NOW)
    assert Manifest.from_json(manifest.to_json()).files == manifest.files


def test_manifests_inside_existing_snapshots_stay_readable():
    """The format drkit 0.1.0 wrote into every snapshot (commit 2b68b04)."""
    old = (b'{"schema":"drkit.manifest/1","policy":"shop","created_at":"2026-11-20T01:30:00+00:00",'
           b'"files":{"/srv/a":[3,1700000000000000000,"' + b"ab" * 32 + b'"]}}')
    manifest = Manifest.from_json(old)
    assert manifest.files["/srv/a"] == Entry(3, 1700000000000000000, "ab" * 32) and manifest.unreadable == {}
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.to_json().startswith(b'{"schema":"drkit.manifest/1"')
