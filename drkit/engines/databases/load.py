"""Loading a dump from a snapshot into a running server (`drkit restore --to-database`,
docs/recovery.md "Databases"): how a target database is found empty, loaded and counted.

One subclass per server kind (postgres.py, mariadb.py). The connection is the person's own: a
libpq DSN (PostgreSQL) or an option file (MariaDB); the password comes from ~/.pgpass, PGPASSFILE
or the option file, never argv. Every program runs through drkit/engines/process.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from drkit.core import errors
from drkit.engines import process


@dataclass(frozen=True)
class Loaded:
    """What the loaded database holds, counted by the server after the load."""

    tables: int
    rows: int


class RunningServer(ABC):
    """A running server a person names to load a dump into."""

    kind: str
    dump_suffix: str

    def __init__(self, connection: str):
        self.connection = connection

    @property
    def label(self) -> str:
        return f"--to-database {self.connection}"

    @abstractmethod
    def check(self) -> None:
        """UsageError when the connection cannot be right (a password in a DSN, no option file),
        before anything connects."""

    @abstractmethod
    def target_database(self, dumped: str) -> str:
        """The database the dump of `dumped` lands in on this server."""

    @abstractmethod
    def objects(self, database: str) -> int:
        """How many tables, views, sequences (and routines) the database holds; 0 when it does not
        exist yet and the load creates it."""

    @abstractmethod
    def load(self, dump: Path, database: str, *, force: bool, series: str) -> None:
        """Load the dump (made by a server of `series`, drkit-dump.json) into `database`; DrkitError
        with the server's first error when it refuses."""

    @abstractmethod
    def count(self, database: str) -> Loaded:
        """Tables and rows (exact counts) of the loaded database."""

    @abstractmethod
    def next_steps(self, database: str) -> list[str]:
        """What a person still has to do after the load (printed, never run)."""

    def _run(self, argv: list[str], *, what: str, env: Mapping[str, str] | None = None, stdin: Path | None = None,
             hint: str) -> process.Completed:
        """A client program on the person's server; DrkitError "LABEL: WHAT: why" when it fails."""
        try:
            done = process.run(argv, timeout=None, env=env, stdin=stdin)
        except process.ProgramNotFound as exc:
            raise errors.DrkitError(f"{self.label}: {what}: {exc}", hint=hint) from None
        except process.ProcessError as exc:
            raise errors.DrkitError(f"{self.label}: {what}: {exc}") from None
        if not done.ok:
            raise errors.DrkitError(f"{self.label}: {what}: {Path(argv[0]).name} {done.status()}: "
                                    f"{first_error(done.stderr) or done.last_line()}")
        return done


def first_error(stderr: bytes) -> str:
    """The first line that says ERROR (what the server refused first), shortened."""
    for line in stderr.decode("utf-8", "replace").splitlines():
        if "error" in line.lower():
            return line.strip()[:300]
    return ""
