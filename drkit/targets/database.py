"""What the database server targets (postgres, mysql) share: one staging directory per target named
by its `name`, one dump per database plus `drkit-dump.json`, and a throw-away server for drills
(docs/databases.md)."""

from __future__ import annotations

from abc import abstractmethod
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, Field

from drkit.core import errors
from drkit.core.policy import NAME_RE
from drkit.engines.databases.dumps import DumpIndex, dump_file
from drkit.engines.databases.server import Throwaway
from drkit.targets.registry import TargetKind

T = TypeVar("T", bound=BaseModel)


def _databases(value: Any) -> Any:
    """One message for the common slip `databases: shop` (not a list, not `all`)."""
    if isinstance(value, str) and value != "all":
        raise ValueError(f"'{value}': write a list (`[{value}]`) or `all`")
    return value


Databases = Annotated[list[str] | Literal["all"], BeforeValidator(_databases)]


def name_field(default: str) -> Any:
    """The `name` field every database target has (its default: the kind's key)."""
    return Field(default, pattern=NAME_RE, max_length=63,
                 description="names the target's dumps (`<staging>/<name>/`), its drill phases and query checks' "
                             "`server`; unique among the policy's targets")


def timeout_field() -> Any:
    return Field(timedelta(hours=6), description="a dump still running after this long is stopped and fails the "
                                                 "backup")


def listed_dumps(databases: Databases | None, restored: str, suffix: str) -> str:
    """The runbook's list of dump files, `$RESTORE/.../shop.dump`, when the policy names the databases."""
    if not isinstance(databases, list):
        return ""
    return " (" + ", ".join(f"`$RESTORE/{restored}/{dump_file(name, suffix)}`" for name in databases) + ")"


class DatabaseKind(TargetKind[T]):
    """A live database server dumped into `<staging>/<name>/` and started again by drills."""

    @abstractmethod
    def name(self, target: T) -> str:
        """The target's `name`."""

    @abstractmethod
    def who(self, target: T) -> str:
        """How messages name the target: 'postgres target host=db user=backup'."""

    @abstractmethod
    def dump_into(self, target: T, out: Path) -> DumpIndex:
        """Dump every database of the target into `out` (an empty directory); SourceMissing naming
        the database that failed."""

    @abstractmethod
    def new_throwaway(self, target: T, restored: Path, index: DumpIndex) -> Throwaway:
        """The throw-away server kind for this target's dumps."""

    def backup_paths(self, target: T, staging: Path) -> list[Path]:
        out = self.restored_path(target, staging)
        out.mkdir(parents=True, exist_ok=True)
        self.dump_into(target, out).write(out)
        return [out]

    def restored_path(self, target: T, staging: Path) -> Path:
        return staging / self.name(target)

    def staged_databases(self, target: T, staging: Path) -> DumpIndex | None:
        try:
            return DumpIndex.read(self.restored_path(target, staging))
        except ValueError:
            return None

    def throwaway(self, target: T, staging: Path) -> Throwaway:
        """VerificationError when the snapshot lacks the target's dumps: nothing to start."""
        restored = self.restored_path(target, staging)
        try:
            index = DumpIndex.read(restored)
        except ValueError as exc:
            raise errors.VerificationError(f"{self.who(target)}: the snapshot holds no database dumps of this "
                                           f"target ({exc})") from None
        missing = [d.file for d in index.databases if not (restored / d.file).is_file()]
        if missing:
            raise errors.VerificationError(f"{self.who(target)}: dump {missing[0]} is not in the restored tree")
        return self.new_throwaway(target, restored, index)
