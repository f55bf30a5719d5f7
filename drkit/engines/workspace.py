"""The state directory and what lives in it: catalog, evidence key, staging, locks, restic cache.

`Workspace` is what commands open: it hands out a `Restic` and an `S3` per policy and records
signed evidence (catalog first, then the bucket; an upload that fails stays pending and is
retried on the next record of that policy).
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path

from drkit.core import errors
from drkit.core.policy import Policy
from drkit.engines.catalog import Catalog
from drkit.engines.locks import PolicyLock
from drkit.engines.privacy import private_dirs, secure_state_dir
from drkit.engines.restic import Restic
from drkit.engines.s3 import S3, parse_location
from drkit.evidence.records import Record, SigningKey, object_name

log = logging.getLogger("drkit")


def default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/drkit")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "drkit"


class Workspace:
    def __init__(self, state_dir: Path):
        self.state_dir = state_dir.resolve()
        self._s3: dict[str, S3 | None] = {}

    @cached_property
    def private_state_dir(self) -> Path:
        """The state directory, created 0700 or repaired to 0700/0600 (once per workspace; the
        first use of anything in it goes through here)."""
        repair = secure_state_dir(self.state_dir)
        if repair.changed:
            log.info("state directory %s made private (0700/0600): %s", self.state_dir, repair.summary())
        for problem in repair.failed:
            log.warning("state directory not private: %s", problem)
        return self.state_dir

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.private_state_dir / "catalog.sqlite")

    @cached_property
    def key(self) -> SigningKey:
        path = self.private_state_dir / "keys" / "evidence-ed25519.pem"
        with errors.state_writes("read or create the evidence signing key", path):
            return SigningKey.load_or_create(path)

    def staging(self, policy: str) -> Path:
        path = self.private_state_dir / "staging" / policy
        with errors.state_writes("create the staging directory", path):
            return private_dirs(path)

    def lock(self, policy: str, job: str) -> PolicyLock:
        return PolicyLock(self.private_state_dir / "locks", policy, job)

    def s3(self, policy: Policy) -> S3 | None:
        """One S3 (one boto3 session and client) per repository for the life of this workspace."""
        key = policy.repository.model_dump_json()
        if key not in self._s3:
            self._s3[key] = S3(policy.repository) if parse_location(policy.repository) else None
        return self._s3[key]

    def restic(self, policy: Policy) -> Restic:
        s3 = self.s3(policy)
        credentials = s3.credentials_env() if s3 else {}
        return Restic(policy.repository, credentials=credentials, cache_dir=self.private_state_dir / "restic-cache")

    # --- evidence --------------------------------------------------------------------------

    def record(self, policy: Policy, record: Record, *, upload: bool = True) -> Record:
        """Chain, sign and store a record; upload it (and any pending ones) next to the repository.

        `upload=False` keeps it pending (a caller that must not wait on the network); the next
        record of the policy uploads it."""
        record = record.model_copy(update={"prev": self.catalog.chain_head(policy.name),
                                           "objectives": {"rpo_s": policy.objectives.rpo.total_seconds(),
                                                          "rto_s": policy.objectives.rto.total_seconds()}})
        signed = self.key.sign(record)
        self.catalog.add_record(signed)
        if upload:
            self.upload_pending(policy)
        return signed

    def upload_pending(self, policy: Policy) -> int:
        s3 = self.s3(policy)
        if s3 is None:
            return 0
        pending = self.catalog.pending_uploads(policy.name)
        if not pending:
            return 0
        try:
            s3.put_bytes(s3.keys_prefix() + f"{self.key.key_id}.pem", self.key.public_pem(), "application/x-pem-file")
            for rec in pending:
                s3.put_bytes(s3.evidence_prefix(policy.name) + object_name(rec), rec.canonical())
                self.catalog.mark_uploaded(rec.digest())
        except errors.DrkitError as exc:
            log.warning("evidence for %s kept locally, upload failed: %s", policy.name, exc)
            return 0
        return len(pending)
