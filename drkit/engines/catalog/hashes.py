"""The file-hash cache of manifests (drkit/engines/manifest.py): only a speed-up, never rebuilt."""

from __future__ import annotations

from dataclasses import dataclass

from drkit.engines.catalog.table import Table


@dataclass(frozen=True)
class CachedHash:
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    sha256: str


class HashCache(Table):
    SCHEMA = """
    create table if not exists file_hashes (
        policy text not null,
        path text not null,
        size integer not null,
        mtime_ns integer not null,
        ctime_ns integer not null,
        inode integer not null,
        sha256 text not null,
        primary key (policy, path)
    );
    """

    def hash_cache(self, policy: str) -> dict[str, CachedHash]:
        rows = self.db.execute("select path, size, mtime_ns, ctime_ns, inode, sha256 from file_hashes where policy = ?",
                               (policy,))
        return {path: CachedHash(*rest) for path, *rest in rows}

    def replace_hash_cache(self, policy: str, entries: dict[str, CachedHash]) -> None:
        with self.db:
            self.db.execute("begin")
            self.db.execute("delete from file_hashes where policy = ?", (policy,))
            self.db.executemany("insert into file_hashes values (?,?,?,?,?,?,?)",
                                [(policy, p, h.size, h.mtime_ns, h.ctime_ns, h.inode, h.sha256) for p, h in entries.items()])
