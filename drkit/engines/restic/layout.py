"""A repository's snapshot ids read from its layout, without starting restic.

Every restic process derives the repository key with scrypt before it does anything (about
0.5 s on a small machine, docs/performance.md), and `restic snapshots` then reads and decrypts
every snapshot file, so listing after each backup cost more than an unchanged backup itself.
restic stores each snapshot as `snapshots/<64 hex id>` (restic's design document, "Repository
Layout"); the names alone say which snapshots exist: one S3 LIST per 1,000 snapshots, or one
directory read for a local repository.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from drkit.core import errors
from drkit.core.policy import Repository
from drkit.engines.restic.environment import restic_url

_ID = re.compile(r"^[0-9a-f]{64}$")


def snapshot_ids(repo: Repository, list_keys: Callable[[str], list[str]] | None, s3_prefix: str = "",
                 starting: str = "") -> set[str]:
    """The ids of every snapshot in the repository (those `starting` with a prefix: one request
    whatever the repository holds): through `list_keys` (the repository's S3 listing,
    `S3.list_keys`) when given, else from the local repository's directory."""
    if list_keys is not None:
        folder = f"{s3_prefix}/snapshots/" if s3_prefix else "snapshots/"
        names = [key.rsplit("/", 1)[-1] for key in list_keys(folder + starting)]
    else:
        directory = Path(restic_url(repo.url)) / "snapshots"
        try:
            names = [entry.name for entry in directory.iterdir()]
        except OSError as exc:
            raise errors.ResticError(f"list snapshots: cannot read {directory} ({exc.strerror})") from None
    return {name for name in names if _ID.match(name) and name.startswith(starting)}


def full_id(ids: set[str], short_id: str) -> str | None:
    """The one id that starts with restic's short id (None: not there, or not unique)."""
    matches = [i for i in ids if short_id and i.startswith(short_id)]
    return matches[0] if len(matches) == 1 else None
