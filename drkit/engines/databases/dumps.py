"""What a database target leaves in the staging directory, and so in the snapshot.

One directory per target (`<staging>/<name>/`): one dump file per database, the server-wide
definitions (roles; tablespaces) and `drkit-dump.json`, the index below. The index is hashed into
the backup's manifest like every staged file, so a drill that reads it from a verified restore
knows which server version made the dumps and which databases they hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drkit.core.errors import SourceMissing
from drkit.engines import process

INDEX_NAME = "drkit-dump.json"


class DatabaseDump(BaseModel):
    """One database's dump: file, size and how long dumping it took."""

    model_config = ConfigDict(frozen=True)

    database: str
    file: str  # name inside the target's directory
    bytes: int
    duration_s: float


class DumpIndex(BaseModel):
    """`drkit-dump.json`: what one database target dumped in one backup."""

    model_config = ConfigDict(frozen=True, extra="ignore", validate_by_name=True, serialize_by_alias=True)

    format: Literal["drkit.database-dump/1"] = Field("drkit.database-dump/1", alias="schema")
    kind: str                      # the target kind: postgres, mysql
    target: str                    # the target's name
    server_version: str            # as the server reported it, e.g. "15.18 (Debian 15.18-0+deb12u1)"
    server_series: str             # what a drill's server must match: "15" (PostgreSQL), "MariaDB 10.11"
    databases: list[DatabaseDump]
    server_files: list[str] = []   # server-wide definitions: roles.sql, tablespaces.sql

    def write(self, directory: Path) -> None:
        (directory / INDEX_NAME).write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def read(cls, directory: Path) -> "DumpIndex":
        """The index in `directory`; ValueError naming the file when it is missing or unreadable."""
        path = directory / INDEX_NAME
        try:
            return cls.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise ValueError(f"{path} is missing") from None
        except (OSError, ValidationError) as exc:
            raise ValueError(f"{path} is unreadable ({type(exc).__name__})") from None


def dump_file(database: str, suffix: str) -> str:
    """A file name for any database name (they may hold '/', spaces, ...): percent-encoded."""
    return quote(database, safe="") + suffix


def run_dump_tool(argv: list[str], *, env: Mapping[str, str] | None = None, timeout: float | None, label: str,
                  what: str, hint: str) -> process.Completed:
    """Run a client of the live server at backup time; SourceMissing "LABEL: WHAT: why" when it does
    not run to its end (missing, timed out, killed) or exits non-zero: the backup stops before restic."""
    try:
        done = process.run(argv, timeout=timeout, env=env)
    except process.ProgramNotFound as exc:
        raise SourceMissing(f"{label}: {what}: {exc}", hint=hint) from None
    except process.ProcessError as exc:
        raise SourceMissing(f"{label}: {what}: {exc}") from None
    if not done.ok:
        raise SourceMissing(f"{label}: {what}: {Path(argv[0]).name} {done.status()}: {done.last_line()}")
    return done
