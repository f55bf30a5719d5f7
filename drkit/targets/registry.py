"""What drkit needs from each kind of `targets:` entry, and the registry of those kinds.

A kind is its pydantic model (the YAML mapping, selected by its key) plus a `TargetKind`: how to
name it, check it before restic starts, stage it, exclude from it, keep drill sandboxes away from
its live data, find it in a restore and put it back (the runbook). Adding a kind is one module
with both, decorated with `@register_target` (docs/extending.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from pydantic import BaseModel

from drkit.core.policy import TARGETS

if TYPE_CHECKING:
    from drkit.engines.databases.dumps import DumpIndex
    from drkit.engines.databases.load import RunningServer
    from drkit.engines.databases.server import Throwaway

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class LivePath:
    """Live data a target reads: a drill sandbox must stay clear of it, and a drill check naming
    it means the target's copy in the restore."""

    label: str  # "backup source /srv/shop", "sqlite database /var/lib/app/app.db"
    path: Path


class TargetKind(ABC, Generic[T]):
    """One kind of target; the methods take the validated model of a `targets:` entry."""

    @abstractmethod
    def label(self, target: T) -> str:
        """Short name in messages and the runbook, e.g. 'sqlite /var/lib/app/app.db'."""

    def check_source(self, target: T) -> None:
        """Raise SourceMissing before restic starts: restic exits 0 when one of several paths is
        missing, so a vanished mount would otherwise pass as a good backup."""

    @abstractmethod
    def backup_paths(self, target: T, staging: Path) -> list[Path]:
        """Write what must be captured first (a dump) into `staging`; return the paths restic backs
        up for this target: live paths in place, or the files written into staging."""

    def excludes(self, target: T) -> list[str]:
        """restic --exclude patterns."""
        return []

    def live_paths(self, target: T) -> list[LivePath]:
        return []

    @abstractmethod
    def restored_path(self, target: T, staging: Path) -> Path:
        """Where the target's data is in a snapshot: the absolute path restic stored, which a
        restore recreates under its target directory."""

    @abstractmethod
    def runbook(self, target: T, restored: str) -> str:
        """One line of Markdown: how to put back the data restored at `$RESTORE/<restored>`."""

    def staged_databases(self, target: T, staging: Path) -> "DumpIndex | None":
        """After `backup_paths`: the databases a database target dumped into `staging` (their sizes,
        durations and server version go into the backup's evidence)."""
        return None

    def throwaway(self, target: T, staging: Path) -> "Throwaway | None":
        """A drill's throw-away server for the target's dumps, restored under `staging` (the staging
        dir inside the sandbox), not started yet; None when the restored files are the whole proof."""
        return None

    def running_server(self, target: T, connection: str) -> "RunningServer | None":
        """A running server named by `drkit restore --to-database CONNECTION` to load this target's
        dumps into; None for targets that hold no database dumps."""
        return None

    def drill_checks(self, target: T, configured: list[Any]) -> list[Any]:
        """Checks every drill runs on this target's restored copy besides the policy's `configured`
        ones (a sqlite database's integrity_check)."""
        return []


class StagedKind(TargetKind[T]):
    """A target captured into the policy's staging directory (a dump or a consistent copy), which is
    backed up in the same snapshot as the live paths: one run, one recovery point."""

    @abstractmethod
    def staged_name(self, target: T) -> str:
        """Relative path inside the staging directory, e.g. 'sqlite/app.db'."""

    @abstractmethod
    def dump(self, target: T, out: Path) -> None:
        """Write the target's data to `out` (its directory exists); raise SourceMissing on failure."""

    def backup_paths(self, target: T, staging: Path) -> list[Path]:
        out = self.restored_path(target, staging)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.dump(target, out)
        return [out]

    def restored_path(self, target: T, staging: Path) -> Path:
        return staging / self.staged_name(target)


K = TypeVar("K", bound=type[TargetKind])


def register_target(model: type[BaseModel], *, key: str) -> Callable[[K], K]:
    """Class decorator: `model` entries (selected by the YAML `key`) are handled by this kind."""
    def decorate(cls: K) -> K:
        TARGETS.add(key, model, cls())
        return cls
    return decorate


def target_kind(target: BaseModel) -> TargetKind:
    """The kind of a validated `targets:` entry."""
    return TARGETS.of(target)
