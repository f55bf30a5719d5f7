"""Public keys that may have signed evidence: this host's, those imported into the catalog, and
(on demand) those uploaded beside each repository."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from drkit.engines.catalog import Catalog
from drkit.evidence.records import SigningKey, load_public_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

LOCAL_KEY = Path("keys") / "evidence-ed25519.pem"  # the host's signing key in the state dir


class KeyRing:
    """Public keys by key id. Remote sources are read only when a record names an unknown key."""

    def __init__(self) -> None:
        self.keys: dict[str, Ed25519PublicKey] = {}
        self._sources: list[Callable[[], Iterable[tuple[str, bytes]]]] = []
        self.problems: list[str] = []

    @classmethod
    def of_host(cls, catalog: Catalog, state_dir: Path) -> KeyRing:
        """This host's own key and every key imported from a bucket (catalog rebuild, report --refresh)."""
        ring = cls()
        local = state_dir / LOCAL_KEY
        if local.exists():
            own = SigningKey.load_or_create(local)
            ring.keys[own.key_id] = own.private.public_key()
        for key_id, pem in catalog.public_keys().items():
            ring.add_pem(pem, f"catalog key {key_id}")
        return ring

    def add_pem(self, pem: bytes, where: str) -> None:
        try:
            key_id, key = load_public_key(pem)
        except ValueError as exc:
            self.problems.append(f"{where}: not an Ed25519 public key ({exc})")
            return
        self.keys[key_id] = key  # the id is derived from the key itself, never from a file name

    def add_source(self, source: Callable[[], Iterable[tuple[str, bytes]]]) -> None:
        self._sources.append(source)

    def cover(self, key_ids: Iterable[str | None]) -> None:
        """Make sure every given key id is known, if any source has it (reads sources at most once)."""
        if any(k and k not in self.keys for k in key_ids):
            self.load_all()

    def load_all(self) -> None:
        sources, self._sources = self._sources, []
        for source in sources:
            for where, pem in source():
                self.add_pem(pem, where)
