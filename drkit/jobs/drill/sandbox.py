"""Where a restore drill may write: an empty directory of its own.

A drill restores real production data, so the sandbox must never touch what it is testing: it is
refused (usage error, exit 2) before anything is written when it is not empty, when it equals,
contains or lies inside a backup source or the state dir, or when its filesystem lacks room for
the snapshot plus 10 %. It is created 0700 (restored data is as sensitive as the source) and
discarded after every failed drill, so a half-restored tree never lingers looking valid.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from drkit import targets
from drkit.core import errors
from drkit.core.policy import Policy

HEADROOM = 1.10  # room needed = snapshot size x HEADROOM


@dataclass(frozen=True)
class Protected:
    """A path a sandbox must stay clear of, with the words that name it in a refusal."""

    label: str
    path: Path


def resolve(path: Path) -> Path:
    """Absolute path with every existing symlink resolved (the tail may not exist yet)."""
    return Path(os.path.realpath(os.path.abspath(os.path.expanduser(str(path)))))


def protected_paths(policy: Policy, state_dir: Path) -> list[Protected]:
    found = [Protected(live.label, resolve(live.path)) for live in targets.live_paths(policy)]
    found.append(Protected(f"drkit state dir {state_dir}", resolve(state_dir)))
    return found


def overlap_reason(sandbox: Path, protected: Iterable[Protected]) -> str | None:
    """Why `sandbox` (resolved) may not be used next to the protected (resolved) paths, or None."""
    for item in protected:
        if sandbox == item.path:
            return f"sandbox {sandbox} is the {item.label}"
        if item.path in sandbox.parents:
            return f"sandbox {sandbox} lies inside the {item.label}"
        if sandbox in item.path.parents:
            return f"sandbox {sandbox} contains the {item.label}"
    return None


def needed_bytes(snapshot_bytes: int) -> int:
    return int(snapshot_bytes * HEADROOM) + 1


def space_reason(sandbox: Path, free: int, snapshot_bytes: int, *, label: str = "sandbox") -> str | None:
    need = needed_bytes(snapshot_bytes)
    if free >= need:
        return None
    return (f"{label} {sandbox}: its filesystem has {_mb(free)} free, the snapshot needs "
            f"{_mb(snapshot_bytes)} + 10 % = {_mb(need)}")


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def default_path(parent: Path, policy: str, now: datetime) -> Path:
    """`<parent>/<policy>-<UTC timestamp>`, with a counter if a drill of the same second exists."""
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = resolve(parent) / f"{policy}-{stamp}"
    candidate, n = base, 1
    while os.path.lexists(candidate):
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(_existing_ancestor(path)).free


@dataclass
class Sandbox:
    """A drill's restore target. `created`: drkit made the directory (so it removes it, not only
    empties it)."""

    path: Path
    created: bool = False
    opened: bool = False
    retired: Path | None = None  # where `retire` moved it

    @classmethod
    def choose(cls, requested: Path | None, *, parent: Path, policy: str, protected: list[Protected],
               now: datetime) -> "Sandbox":
        """Pick and vet the path; writes nothing (a refusal leaves the disk as it was)."""
        path = resolve(requested) if requested is not None else default_path(parent, policy, now)
        reason = overlap_reason(path, protected)
        if reason:
            raise errors.UsageError(reason, hint="choose a sandbox outside every backup source and the state dir")
        if os.path.lexists(path):
            if not path.is_dir() or path.is_symlink():
                raise errors.UsageError(f"sandbox {path} exists and is not a directory")
            entries = len(os.listdir(path))
            if entries:
                raise errors.UsageError(f"sandbox {path} is not empty ({entries} entries); a drill restores only "
                                        "into an empty directory", hint="give an empty or new --sandbox")
        return cls(path)

    def check_space(self, snapshot_bytes: int) -> None:
        reason = space_reason(self.path, free_bytes(self.path), snapshot_bytes)
        if reason:
            raise errors.UsageError(reason, hint="free space or pass --sandbox on a larger filesystem")

    def open(self) -> None:
        """Create the directory 0700 (parents as needed, also 0700); an existing empty one is chmod'ed.
        A full or read-only parent is a StateError naming it (exit 1), before anything is restored."""
        with errors.state_writes("create the drill sandbox", self.path, other="--sandbox DIR"):
            self._open()

    def _open(self) -> None:
        if self.path.exists():
            os.chmod(self.path, 0o700)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                os.mkdir(self.path, 0o700)
            except FileExistsError:
                raise errors.UsageError(f"sandbox {self.path} appeared while the drill started; refusing it") from None
            os.chmod(self.path, 0o700)  # mkdir's mode is masked by the umask
            self.created = True
        self.opened = True

    def empty(self) -> None:
        """Remove everything inside (a restore that must start over)."""
        for child in os.listdir(self.path):
            _remove(self.path / child)

    def retire(self) -> None:
        """Rename a sandbox drkit created to a hidden `.NAME.removing` at once (removal takes
        longer); `discard` then removes it there."""
        if not (self.opened and self.created) or self.retired is not None:
            return
        hidden = self.path.with_name(f".{self.path.name}.removing")
        os.rename(self.path, hidden)
        self.retired = hidden

    def discard(self) -> None:
        """Remove what the drill wrote: the directory when drkit created it, else its content."""
        if not self.opened:
            return
        if self.retired is not None:
            if os.path.lexists(self.retired):
                _remove(self.retired)
        elif not os.path.lexists(self.path):
            return
        elif self.created:
            _remove(self.path)
        else:
            self.empty()


def _remove(path: Path) -> None:
    """rmtree that also removes what restic restored read-only (dirs 0555 block unlinking)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return

    def retry(func, name, exc_info) -> None:  # noqa: ANN001 - shutil's onerror signature
        exc = exc_info[1]
        if not isinstance(exc, PermissionError) and getattr(exc, "errno", None) not in (errno.EACCES, errno.EPERM):
            raise exc
        parent = os.path.dirname(name)
        os.chmod(parent, stat.S_IRWXU)
        if os.path.isdir(name) and not os.path.islink(name):
            os.chmod(name, stat.S_IRWXU)
            shutil.rmtree(name, onerror=retry)
        else:
            func(name)

    shutil.rmtree(path, onerror=retry)


class FirstByteWatch:
    """Time from now until restored data first lands in the sandbox: the restore's time to first byte.

    restic 0.14 creates a regular file when its first blob arrives, after opening the repository,
    loading the index, walking the tree and fetching a pack (empty files come earlier and do not
    count). What precedes the first byte does not grow with the data; the projected full RTO
    (docs/reports.md) treats it as fixed cost. Polled on a thread until found or `stop()`.
    """

    def __init__(self, root: Path, interval: float = 0.005):
        self.root = root
        self.interval = interval
        self.seconds: float | None = None
        self._began = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="drill-first-byte", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            if _holds_data(self.root):
                self.seconds = time.monotonic() - self._began
                return
            self._stop.wait(self.interval)


def _holds_data(root: Path) -> bool:
    """Whether any regular file under `root` has content (stops at the first)."""
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_size > 0:
                return True
    return False
