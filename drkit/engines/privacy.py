"""The state directory is private to its owner: the catalog holds paths, file hashes and the
history of every backup, and keys/ the evidence signing key (docs/reliability.md, "Local exposure").

Directories are 0700 and files 0600. drkit creates them so (explicit modes, and `main()` runs
under umask 077 so that restic's cache and SQLite's -wal/-shm/-journal files follow), and
`secure_state_dir` repairs a state directory made by an older drkit or by hand.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from drkit.core import errors
from drkit.core.atomic import make_dirs

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dirs(path: Path) -> Path:
    """`mkdir -p` with 0700 for every directory it creates (parents included)."""
    return make_dirs(path, DIR_MODE)


def create_private_file(path: Path) -> None:
    """Create `path` 0600 when absent (SQLite would create it 0644; its -wal, -shm and -journal
    files then copy the database file's mode)."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))


@dataclass
class Repair:
    """What `secure_state_dir` changed, and what it could not."""

    changed: list[tuple[Path, int, int]] = field(default_factory=list)  # path, old mode, new mode
    failed: list[str] = field(default_factory=list)

    def summary(self, limit: int = 5) -> str:
        shown = ", ".join(f"{path} {old:04o}->{new:04o}" for path, old, new in self.changed[:limit])
        more = f" and {len(self.changed) - limit} more" if len(self.changed) > limit else ""
        return shown + more


def secure_state_dir(state_dir: Path) -> Repair:
    """Create the state directory 0700 if needed, and take group and other permissions off it and
    everything in it (directories 0700, files at most 0600). Symlinks are left alone; a path that
    cannot be changed (not ours) is reported in `failed`, not fatal: reads may still work, and a
    write that fails says why on its own."""
    with errors.state_writes("create the state directory", state_dir):
        private_dirs(state_dir)
    repair = Repair()
    _fix(state_dir, True, repair)
    for root, dirs, files in os.walk(state_dir, onerror=lambda exc: repair.failed.append(f"{exc.filename}: "
                                                                                         f"{exc.strerror}")):
        for name in dirs:
            _fix(Path(root) / name, True, repair)
        for name in files:
            _fix(Path(root) / name, False, repair)
    return repair


def _fix(path: Path, is_dir: bool, repair: Repair) -> None:
    try:
        info = os.lstat(path)
    except OSError:
        return  # removed meanwhile (a lock or a cache file)
    if stat.S_ISLNK(info.st_mode):
        return
    mode = stat.S_IMODE(info.st_mode)
    wanted = DIR_MODE if is_dir else mode & DIR_MODE  # files: the owner's bits only (0644 -> 0600)
    if mode == wanted:
        return
    try:
        os.chmod(path, wanted)
    except OSError as exc:
        repair.failed.append(f"{path}: {exc.strerror}")
        return
    repair.changed.append((path, mode, wanted))
