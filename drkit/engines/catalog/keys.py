"""Public keys of every host that signed evidence, and signatures already verified (reports
verify each record once, not on every run)."""

from __future__ import annotations

from collections.abc import Iterable

from drkit.engines.catalog.table import Table


class KeyCache(Table):
    SCHEMA = """
    create table if not exists verified_signatures (
        digest text primary key,
        key_id text not null
    );
    create table if not exists public_keys (
        key_id text primary key,
        pem text not null
    );
    """

    def verified_keys(self, digests: Iterable[str]) -> dict[str, str]:
        """digest -> key id that verified it. Callers must re-hash the record text against the digest:
        only then does a cached verdict still apply to what the catalog holds."""
        found: dict[str, str] = {}
        batch = list(digests)
        for i in range(0, len(batch), 500):
            chunk = batch[i:i + 500]
            found.update(self.db.execute(
                f"select digest, key_id from verified_signatures where digest in ({','.join('?' * len(chunk))})", chunk))
        return found

    def mark_verified(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.db.executemany("insert or replace into verified_signatures values (?, ?)", list(pairs))

    def add_public_key(self, key_id: str, pem: bytes) -> None:
        self.db.execute("insert or replace into public_keys values (?, ?)", (key_id, pem.decode("ascii")))

    def public_keys(self) -> dict[str, bytes]:
        return {k: pem.encode("ascii") for k, pem in self.db.execute("select key_id, pem from public_keys")}
