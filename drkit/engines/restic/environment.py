"""restic's child environment: repository, password source, S3 credentials, cache directory.

Secrets never go on argv: the password reaches restic as RESTIC_PASSWORD_FILE or
RESTIC_PASSWORD_COMMAND (RESTIC_PASSWORD only for `password_env`), S3 keys as AWS_* variables.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from drkit.core import errors
from drkit.core.policy import Repository


def child_env(repo: Repository, credentials: dict[str, str], cache_dir: Path | None,
              source: Repository | None = None) -> dict[str, str]:
    """drkit's own environment without any RESTIC_* the caller had set, plus this repository's
    (and, for `copy` and `init --from-repo`, the source repository's as RESTIC_FROM_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env["RESTIC_REPOSITORY"] = restic_url(repo.url)
    env["TZ"] = "UTC"  # `backup --time` is given in UTC; restic's JSON times carry their zone either way
    env.update(password_env(repo))
    if source is not None:
        env["RESTIC_FROM_REPOSITORY"] = restic_url(source.url)
        env.update({name.replace("RESTIC_", "RESTIC_FROM_", 1): value for name, value in password_env(source).items()})
    env.update(credentials)
    if cache_dir:
        env["RESTIC_CACHE_DIR"] = str(cache_dir)
    return env


def password_env(repo: Repository) -> dict[str, str]:
    """The one password source a policy names, as restic's variable for it."""
    if repo.password_file:
        return {"RESTIC_PASSWORD_FILE": str(repo.password_file)}
    if repo.password_command:
        return {"RESTIC_PASSWORD_COMMAND": shlex.join(repo.password_command)}
    if repo.password_env:
        value = os.environ.get(repo.password_env)
        if not value:
            # as a missing password file or a failing password command: the password is unavailable
            # at run time (exit 1), not a mistake in how drkit was called
            raise errors.PasswordUnavailable(
                f"the repository password could not be read: environment variable {repo.password_env} is not set "
                f"(repository {repo.name}, password_env)",
                hint=f"set {repo.password_env} in drkit's environment (/etc/drkit/env for the daemon and the units)")
        return {"RESTIC_PASSWORD": value}
    return {}


def restic_url(url: str) -> str:
    """`local:/path` is drkit's spelling for a local repository (tests); restic takes the bare path."""
    return url.removeprefix("local:")
