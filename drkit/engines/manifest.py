"""sha256 manifest of what a backup contains, recorded at backup time and stored *inside* the
snapshot (so it is encrypted, offsite, and survives the loss of the host).

Hashing is cheap on nightly runs: a file's previous hash is reused while its path, size, mtime,
ctime and inode are unchanged (restic's own change test), and new or changed files are hashed on a
thread pool (hashlib releases the GIL). Entries keep size and mtime so a drill can tell a file
that changed between hashing and restic's read (unverifiable by hash) from a damaged one.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

from drkit.engines.catalog import CachedHash

MANIFEST_NAME = "drkit-manifest.json"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    size: int
    mtime_ns: int
    sha256: str


@dataclass
class Manifest:
    policy: str
    created_at: str
    files: dict[str, Entry]
    hashed_bytes: int = field(default=0, compare=False)  # bytes read this run (the rest came from the cache)
    # Files the backup could not read (path -> reason): they are in neither the manifest nor the
    # snapshot, so a drill of this snapshot can never pass (docs/drill.md, "Partial snapshots").
    unreadable: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        data = {"schema": "drkit.manifest/1", "policy": self.policy, "created_at": self.created_at,
                "files": {p: [e.size, e.mtime_ns, e.sha256] for p, e in sorted(self.files.items())}}
        if self.unreadable:  # absent when empty: the format of manifests already inside snapshots
            data["unreadable"] = dict(sorted(self.unreadable.items()))
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Manifest":
        obj = json.loads(data)
        if obj.get("schema") != "drkit.manifest/1":
            raise ValueError("not a drkit manifest")
        return cls(obj["policy"], obj["created_at"], {p: Entry(*v) for p, v in obj["files"].items()},
                   unreadable=dict(obj.get("unreadable") or {}))


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _excluded(path: str, patterns: list[str]) -> bool:
    """Approximation of restic's --exclude (only saves hashing work; verification keys off restic ls)."""
    name = os.path.basename(path)
    for pattern in patterns:
        bare = pattern.rstrip("/")
        if fnmatch.fnmatch(name, bare) or fnmatch.fnmatch(path, bare) or fnmatch.fnmatch(path, "*/" + bare):
            return True
    return False


def walk_files(roots: list[Path], excludes: list[str],
               unreadable: dict[str, str] | None = None) -> Iterator[tuple[str, os.stat_result]]:
    """Regular files under the roots (symlinks not followed), with their lstat. Directories that
    cannot be listed go into `unreadable` (restic cannot read them either)."""
    def refused(error: OSError) -> None:
        if unreadable is not None and error.filename:
            unreadable[str(error.filename)] = error.strerror or type(error).__name__

    for root in roots:
        st = os.lstat(root)
        if stat.S_ISREG(st.st_mode):
            yield str(root), st
            continue
        for dirpath, dirnames, filenames in os.walk(root, onerror=refused):
            dirnames[:] = [d for d in dirnames if not _excluded(os.path.join(dirpath, d), excludes)]
            for name in filenames:
                full = os.path.join(dirpath, name)
                if _excluded(full, excludes):
                    continue
                try:
                    st = os.lstat(full)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    yield full, st


def build(policy: str, roots: list[Path], excludes: list[str], cache: dict[str, CachedHash],
          now: datetime, workers: int | None = None) -> tuple[Manifest, dict[str, CachedHash]]:
    """Hash every regular file, reusing cached hashes of unchanged files. Returns the manifest and
    the new cache content."""
    new_cache: dict[str, CachedHash] = {}
    unreadable: dict[str, str] = {}
    todo: list[tuple[str, os.stat_result]] = []
    for path, st in walk_files(roots, excludes, unreadable):
        old = cache.get(path)
        if old and (old.size, old.mtime_ns, old.ctime_ns, old.inode) == (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino):
            new_cache[path] = old
        else:
            todo.append((path, st))
    hashed = 0

    def work(item: tuple[str, os.stat_result]) -> tuple[str, CachedHash | str]:
        path, st = item
        try:
            return path, CachedHash(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, sha256_file(path))
        except FileNotFoundError:
            return path, ""  # vanished since the walk: not part of this recovery point
        except OSError as exc:
            return path, exc.strerror or type(exc).__name__  # unreadable: restic cannot read it either

    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 2)) as pool:
        for path, entry in pool.map(work, todo, chunksize=16):
            if isinstance(entry, CachedHash):
                new_cache[path] = entry
                hashed += entry.size
            elif entry:
                unreadable[path] = entry
    files = {p: Entry(h.size, h.mtime_ns, h.sha256) for p, h in new_cache.items()}
    return Manifest(policy, now.isoformat(), files, hashed, unreadable), new_cache
