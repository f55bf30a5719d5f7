"""The state directory and what lives in it: catalog, evidence key, staging, locks, restic cache.

`Workspace` is what commands open: it hands out a `Restic` and an `S3` per repository of a
policy and records signed evidence (catalog first, then every repository's bucket; an upload
that fails stays pending for that bucket and is retried on the next record of that policy).
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from drkit.core import errors
from drkit.core.policy import Policy
from drkit.engines.catalog import Catalog
from drkit.engines.locks import PolicyLock
from drkit.engines.privacy import private_dirs, secure_state_dir
from drkit.engines.restic import Restic
from drkit.evidence.keys import LOCAL_KEY
from drkit.evidence.records import Record, SigningKey, object_name

if TYPE_CHECKING:
    from drkit.engines.s3 import S3

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

    def close(self) -> None:
        """Close the catalog if this workspace opened it (SQLite connections belong to one thread)."""
        if "catalog" in self.__dict__:
            self.catalog.close()

    @cached_property
    def key(self) -> SigningKey:
        path = self.private_state_dir / LOCAL_KEY
        with errors.state_writes("read or create the evidence signing key", path):
            return SigningKey.load_or_create(path)

    def staging(self, policy: str) -> Path:
        path = self.private_state_dir / "staging" / policy
        with errors.state_writes("create the staging directory", path):
            return private_dirs(path)

    def lock(self, policy: str, job: str) -> PolicyLock:
        return PolicyLock(self.private_state_dir / "locks", policy, job)

    def s3(self, policy: Policy, repository: str | None = None) -> S3 | None:
        """One S3 (one boto3 session and client) per repository for the life of this workspace;
        None for a repository that is not on S3. `repository` names one of the policy's
        repositories; None is the first."""
        from drkit.engines.s3 import S3, parse_location  # boto3: only for commands that reach a bucket

        repo = policy.repository_named(repository)
        key = repo.model_dump_json()  # the settings, not the name: a reloaded policy may change them
        if key not in self._s3:
            self._s3[key] = S3(repo) if parse_location(repo) else None
        return self._s3[key]

    def restic(self, policy: Policy, repository: str | None = None, *, source: str | None = None) -> Restic:
        """A `Restic` bound to one of the policy's repositories (None: the first). Built per call:
        S3 credentials are read from the cached session each time, so refreshed role or SSO
        credentials reach the next restic run. `source` names the repository a `copy` or
        `init --copy-chunker-params` reads from (docs/repositories.md, "Copies")."""
        repo = policy.repository_named(repository)
        s3 = self.s3(policy, repo.name)
        credentials = s3.credentials_env() if s3 else {}
        origin = policy.repository_named(source) if source is not None else None
        if origin is not None:
            credentials = self._shared_credentials(policy, origin.name, repo.name, credentials)
        return Restic(repo, credentials=credentials, cache_dir=self.private_state_dir / "restic-cache", source=origin,
                      version_cache=self.private_state_dir / "restic-version.json", policy=policy.name)

    def _shared_credentials(self, policy: Policy, source: str, destination: str,
                            credentials: dict[str, str]) -> dict[str, str]:
        """restic 0.14 opens both repositories of a copy with the one set of AWS_* variables it
        has: the source's credentials must be the destination's (or one of them not on S3)."""
        s3 = self.s3(policy, source)
        theirs = s3.credentials_env() if s3 else {}
        keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
        if credentials and theirs and any(credentials.get(k) != theirs.get(k) for k in keys):
            raise errors.UsageError(
                f"{policy.name}: repositories {source} and {destination} use different S3 credentials, and restic 0.14 "
                "opens both repositories of a copy with one set",
                hint="give both repositories the same aws_profile (one key allowed on both buckets); docs/repositories.md")
        return credentials or theirs

    # --- evidence --------------------------------------------------------------------------

    def record(self, policy: Policy, record: Record, *, upload: bool = True) -> Record:
        """Chain, sign and store a record; upload it (and any pending ones) to every repository's bucket.

        The record names the repository its run used (`Record.repository`; unset means the
        policy's first); every bucket gets every record, so any one alone rebuilds the catalog. `upload=False` keeps it pending
        (a caller that must not wait on the network); the next record of the policy uploads it."""
        repository = policy.repository_named(record.repository).name
        record = record.model_copy(update={"prev": self.catalog.chain_head(policy.name), "repository": repository,
                                           "objectives": {"rpo_s": policy.objectives.rpo.total_seconds(),
                                                          "rto_s": policy.objectives.rto.total_seconds()}})
        signed = self.key.sign(record)
        self.catalog.add_record(signed)
        if upload:
            self.upload_pending(policy)
        return signed

    def upload_pending(self, policy: Policy) -> int:
        """Upload the policy's records to every repository's bucket that lacks them, so any one
        bucket alone rebuilds the catalog (docs/repositories.md); returns how many records went
        to their own repository. A bucket that cannot be reached only warns."""
        first = policy.repository.name
        uploaded = 0
        for repo in policy.repositories:
            if self.s3(policy, repo.name) is None:
                continue  # a local repository keeps no evidence copy
            records = self.catalog.pending_uploads_to(policy.name, repo.name, first)
            if records and self._upload(policy, repo.name, records):
                uploaded += sum((rec.repository or first) == repo.name for rec in records)
        return uploaded

    def _upload(self, policy: Policy, repository: str, records: list[Record]) -> bool:
        """The signing key's public half, then the records, into one repository's bucket. A
        failure only warns: the records stay pending there and the next record retries them."""
        first = policy.repository.name
        done: list[str] = []
        try:
            s3 = self.s3(policy, repository)
            if s3 is None:
                return False
            s3.put_bytes(s3.keys_prefix() + f"{self.key.key_id}.pem", self.key.public_pem(), "application/x-pem-file")
            for rec in records:
                s3.put_bytes(s3.evidence_prefix(policy.name) + object_name(rec), rec.canonical())
                done.append(rec.digest())
                if (rec.repository or first) == repository:
                    self.catalog.mark_uploaded(rec.digest())
        except errors.DrkitError as exc:
            log.warning("evidence for %s kept locally, upload to repository %s failed: %s", policy.name, repository, exc)
            return False
        finally:
            self.catalog.mark_uploaded_to(done, repository)
        return True
