"""Key escrow in the age format: the only module that uses pyrage.

A repository password sealed to one or more recovery keys (age X25519 `age1…` or SSH
`ssh-ed25519`/`ssh-rsa` public keys) is a standard age file, so `age -d -i IDENTITY BLOB` opens
it without drkit (docs/security.md, "Key escrow"). The plaintext is exactly what the password
source gives (the password file's bytes, the command's output), so the decrypted blob is a
working password file as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyrage

from drkit.core import errors
from drkit.core.policy import Repository

PASSWORD_COMMAND_TIMEOUT_S = 30


@dataclass(frozen=True)
class RecoveryKey:
    """One recipient of the escrow, as the user typed it (public; safe to log and store)."""

    text: str
    recipient: object  # pyrage's X25519 or SSH recipient

    @classmethod
    def parse(cls, text: str) -> RecoveryKey:
        text = text.strip()
        try:
            if text.startswith("age1"):
                return cls(text, pyrage.x25519.Recipient.from_str(text))
            if text.startswith("ssh-"):
                return cls(text, pyrage.ssh.Recipient.from_str(text))
        except pyrage.RecipientError as exc:
            raise errors.UsageError(f"--recipient '{_short(text)}' is not a valid age recipient ({exc})") from None
        raise errors.UsageError(f"--recipient '{_short(text)}': give an age public key (age1…) or an SSH "
                                "public key (ssh-ed25519 …)", hint="make one with: age-keygen -o recovery.key")


def _short(text: str) -> str:
    return text if len(text) <= 24 else text[:20] + "…"


def seal(password: bytes, recipients: Sequence[RecoveryKey]) -> bytes:
    """The age file of `password` for every recipient (any one identity opens it)."""
    if not recipients:
        raise errors.UsageError("give at least one --recipient")
    try:
        return pyrage.encrypt(password, [r.recipient for r in recipients])
    except pyrage.EncryptError as exc:
        raise errors.UsageError(f"cannot encrypt to the recipients given: {exc}") from None


def load_identities(path: Path) -> list[object]:
    """The identities of an age identity file (`AGE-SECRET-KEY-1…` lines, as age-keygen writes
    them) or an unencrypted OpenSSH private key."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise errors.UsageError(f"--identity {path}: cannot read it ({exc.strerror})") from None
    try:
        if data.lstrip().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
            return [pyrage.ssh.Identity.from_buffer(data)]
        lines = [ln.strip() for ln in data.decode("utf-8").splitlines()]
        found = [pyrage.x25519.Identity.from_str(ln) for ln in lines if ln.startswith("AGE-SECRET-KEY-1")]
    except (pyrage.IdentityError, UnicodeDecodeError, ValueError):
        found = []
    if not found:
        raise errors.UsageError(f"--identity {path}: no age identity in it (expected AGE-SECRET-KEY-1… lines as "
                                "age-keygen writes them, or an unencrypted OpenSSH private key)")
    return found


def unseal(blob: bytes, identities: Sequence[object], where: str) -> bytes:
    """The password in an escrow blob; a VerificationError when no identity opens it."""
    try:
        return pyrage.decrypt(blob, list(identities))
    except pyrage.DecryptError as exc:
        raise errors.VerificationError(f"{where}: the identity given does not open it ({exc})",
                                       hint="use the recovery key the password was escrowed to") from None


def current_password(repo: Repository) -> bytes:
    """What the repository's password source gives now: the file's bytes, the command's output or
    the variable's value. The command runs by argv through engines/process.py (never a shell)."""
    if repo.password_file:
        try:
            data = repo.password_file.read_bytes()
        except OSError as exc:
            raise errors.PasswordUnavailable(f"repository {repo.name}: cannot read password file "
                                             f"{repo.password_file} ({exc.strerror})") from None
        return _non_empty(data, f"password file {repo.password_file}", repo)
    if repo.password_command:
        return _non_empty(_command_output(repo), f"password command {repo.password_command[0]}", repo)
    value = os.environ.get(repo.password_env or "", "")
    return _non_empty(value.encode(), f"environment variable {repo.password_env}", repo)


def _command_output(repo: Repository) -> bytes:
    from drkit.engines import process

    argv = repo.password_command or []
    try:
        done = process.run(argv, timeout=PASSWORD_COMMAND_TIMEOUT_S)
    except process.ProcessError as exc:
        raise errors.PasswordUnavailable(f"repository {repo.name}: password command: {exc}") from None
    if not done.ok:
        raise errors.PasswordUnavailable(f"repository {repo.name}: password command {argv[0]} {done.status()}")
    return done.stdout


def _non_empty(data: bytes, source: str, repo: Repository) -> bytes:
    if not data.strip():
        raise errors.PasswordUnavailable(f"repository {repo.name}: {source} gives an empty password")
    return data
