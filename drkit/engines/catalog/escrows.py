"""Which repositories have their password escrowed, to whom and when (`drkit keys escrow`), so
`status` can warn offline about a policy without escrow. A cache like the rest of the catalog:
`catalog rebuild` notes the escrow objects it finds in the buckets (recipients then unknown)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from drkit.engines.catalog.table import Table


@dataclass(frozen=True)
class EscrowRow:
    policy: str
    repository: str
    object_key: str
    recipients: tuple[str, ...]  # public recovery keys; empty when only seen in a bucket
    escrowed_at: datetime


class KeyEscrows(Table):
    SCHEMA = """
    create table if not exists key_escrows (
        policy text not null,
        repository text not null,
        object_key text not null,
        recipients text not null,
        escrowed_at text not null,
        primary key (policy, repository)
    );
    """

    def note_escrow(self, row: EscrowRow) -> None:
        self.db.execute("insert or replace into key_escrows values (?, ?, ?, ?, ?)",
                        (row.policy, row.repository, row.object_key, "\n".join(row.recipients),
                         row.escrowed_at.isoformat()))

    def note_escrow_seen(self, row: EscrowRow) -> None:
        """An escrow object found in a bucket: keep what `keys escrow` recorded, if anything."""
        self.db.execute("insert or ignore into key_escrows values (?, ?, ?, ?, ?)",
                        (row.policy, row.repository, row.object_key, "\n".join(row.recipients),
                         row.escrowed_at.isoformat()))

    def escrows(self, policy: str) -> dict[str, EscrowRow]:
        """repository name -> its escrow."""
        rows = self.db.execute("select policy, repository, object_key, recipients, escrowed_at from key_escrows "
                               "where policy = ?", (policy,))
        return {r[1]: EscrowRow(r[0], r[1], r[2], tuple(x for x in r[3].split("\n") if x),
                                datetime.fromisoformat(r[4])) for r in rows}
