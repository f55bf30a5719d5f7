"""`drkit keys escrow` / `keys recover`: each repository's password, sealed to recovery keys in
the age format, kept in that repository's own bucket (docs/security.md, "Key escrow").

Not a run_locked job: escrow changes no repository and proves nothing about the data, so it
writes no evidence record; the catalog notes it (`key_escrows`) for `status`, and `doctor` checks
the bucket itself. With the host and its password file gone, the bucket plus the recovery
identity give the password back: through drkit (`keys recover`) or through `age -d` alone.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from drkit.core import errors
from drkit.core.atomic import make_dirs
from drkit.core.locations import public_url
from drkit.core.policy import Policy, Repository
from drkit.engines.catalog import EscrowRow
from drkit.engines.escrow import RecoveryKey, current_password, load_identities, seal, unseal
from drkit.engines.s3 import S3
from drkit.engines.workspace import Workspace
from drkit.evidence.records import now_utc

log = logging.getLogger("drkit")


@dataclass(frozen=True)
class Escrowed:
    repository: str
    location: str  # s3://bucket/key, for the user to find it again

    def line(self) -> str:
        return f"escrowed the password of repository {self.repository} to {self.location}"


def escrow_passwords(ws: Workspace, policy: Policy, recipients: Sequence[str],
                     repository: str | None = None) -> list[Escrowed]:
    """Seal each chosen repository's current password to every recipient and store it in that
    repository's bucket (replacing an older escrow); note it in the catalog."""
    keys = [RecoveryKey.parse(text) for text in recipients]
    repos = [policy.repository_named(repository)] if repository else list(policy.repositories)
    for repo in repos:  # every bucket and password first: a wrong password must not replace a good escrow
        _bucket(ws, policy, repo)
        _opens(ws, policy, repo)
    done = []
    for repo in repos:
        s3 = _bucket(ws, policy, repo)
        key = s3.escrow_key(policy.name, repo.name)
        s3.put_bytes(key, seal(current_password(repo), keys), "application/octet-stream")
        ws.catalog.note_escrow(EscrowRow(policy.name, repo.name, key, tuple(k.text for k in keys), now_utc()))
        done.append(Escrowed(repo.name, f"s3://{s3.location.bucket}/{key}"))
    return done


def _opens(ws: Workspace, policy: Policy, repo: Repository) -> None:
    """The password opens the repository (`restic cat config`), or there is no repository yet (an
    escrow may come before `repo init`); a password that opens nothing is refused (docs/security.md)."""
    try:
        ws.restic(policy, repo.name).config()
    except errors.NoRepository:
        log.info("repository %s is not initialized yet: its password is escrowed unchecked", repo.name)
    except errors.WrongPassword:
        raise errors.UsageError(f"repository {repo.name}: the password from {_source(repo)} does not open "
                                f"{public_url(repo.url)}; nothing was escrowed",
                                hint=f"fix the password source first, then check with: drkit doctor {policy.name}") from None


def _source(repo: Repository) -> str:
    if repo.password_file is not None:
        return f"password_file {repo.password_file}"
    return "password_command" if repo.password_command else f"password_env {repo.password_env}"


@dataclass(frozen=True)
class Recovered:
    repository: str
    path: Path
    unchanged: bool  # the file already held this password

    def line(self) -> str:
        if self.unchanged:
            return f"password file {self.path} already holds the escrowed password of repository {self.repository}"
        return f"recovered the password of repository {self.repository} into {self.path} (0600)"


def recover_password(ws: Workspace, policy: Policy, identity: Path, *, repository: str | None = None,
                     to: Path | None = None, force: bool = False) -> Recovered:
    """Fetch the repository's escrow blob, open it with the identity and write the password file
    0600. A different existing file is kept unless `force`: it may be a newer password."""
    repo = policy.repository_named(repository)
    target = to or repo.password_file
    if target is None:
        raise errors.UsageError(f"repository {repo.name} takes its password from "
                                f"{'a command' if repo.password_command else 'an environment variable'}: "
                                "give --to PATH for the recovered password file")
    identities = load_identities(identity)
    s3 = _bucket(ws, policy, repo)
    key = s3.escrow_key(policy.name, repo.name)
    if not s3.object_exists(key):
        raise errors.UsageError(f"repository {repo.name}: no escrowed password at s3://{s3.location.bucket}/{key}",
                                hint=f"escrow it while the password is at hand: drkit keys escrow {policy.name} "
                                     "--recipient age1…")
    password = unseal(s3.get_bytes(key), identities, f"s3://{s3.location.bucket}/{key}")
    unchanged = _write_password_file(target.absolute(), password, force=force)
    try:  # the password is back either way: a state directory that cannot be written only warns
        ws.catalog.note_escrow_seen(EscrowRow(policy.name, repo.name, key, (), now_utc()))
    except errors.StateError as exc:
        log.warning("escrow of %s not noted in the catalog: %s", repo.name, exc)
    return Recovered(repo.name, target, unchanged)


def _bucket(ws: Workspace, policy: Policy, repo: Repository) -> S3:
    s3 = ws.s3(policy, repo.name)
    if s3 is None:
        raise errors.UsageError(f"repository {repo.name} ({repo.url}) is not on S3: key escrow keeps the password "
                                "in the repository's bucket")
    return s3


def _write_password_file(path: Path, password: bytes, *, force: bool) -> bool:
    """Write atomically with mode 0600 (its directory 0700 when created); True when it was already so."""
    if path.exists():
        with errors.state_writes("read the password file", path, other="--to PATH"):
            existing = path.read_bytes()
        if existing == password:
            os.chmod(path, 0o600)
            return True
        if not force:
            raise errors.UsageError(f"{path} exists and holds a different password; keep it, or pass --force to "
                                    "replace it (or --to another path)")
    with errors.state_writes("write the password file", path, other="--to PATH"):
        make_dirs(path.parent, 0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(password)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return False

