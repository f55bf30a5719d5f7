"""The catalog's SQLite connection: its failures (disk full, read-only, not a database) are
StateErrors naming the catalog file — one line and exit 1 (docs/reliability.md)."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from drkit.core import errors
from drkit.engines.privacy import create_private_file, private_dirs


class _CatalogConnection(sqlite3.Connection):
    """A connection whose SQLite failures (disk full, read-only, not a database) are StateErrors
    naming the catalog file: one line and exit 1 instead of an OperationalError. A failed
    statement or commit changes nothing, so earlier evidence stays and the catalog stays usable."""

    catalog_path: Path

    def execute(self, *args, **kwargs):  # noqa: ANN002, ANN003 - sqlite3's own signature
        with _sqlite_errors(self.catalog_path):
            return super().execute(*args, **kwargs)

    def executemany(self, *args, **kwargs):  # noqa: ANN002, ANN003
        with _sqlite_errors(self.catalog_path):
            return super().executemany(*args, **kwargs)

    def executescript(self, *args, **kwargs):  # noqa: ANN002, ANN003
        with _sqlite_errors(self.catalog_path):
            return super().executescript(*args, **kwargs)

    def __exit__(self, *exc):  # noqa: ANN002 - `with db:` commits here
        with _sqlite_errors(self.catalog_path):
            return super().__exit__(*exc)


# SQLite result codes (https://www.sqlite.org/rescode.html) -> what to do about them
_SQLITE_HINTS = {
    "SQLITE_FULL": errors.hint_for(errno.ENOSPC),
    "SQLITE_READONLY": errors.hint_for(errno.EACCES),
    "SQLITE_CANTOPEN": errors.hint_for(errno.EACCES),
    "SQLITE_PERM": errors.hint_for(errno.EACCES),
    "SQLITE_IOERR": "the file system may be full or failing: check `df` and the kernel log",
    "SQLITE_NOTADB": "move it away and run: drkit catalog rebuild",
    "SQLITE_CORRUPT": "move it away and run: drkit catalog rebuild",
}


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError:
        raise  # a bug, not a state fault
    except sqlite3.DatabaseError as exc:
        name = getattr(exc, "sqlite_errorname", "")  # extended, e.g. SQLITE_READONLY_DIRECTORY
        hint = next((h for code, h in _SQLITE_HINTS.items() if name == code or name.startswith(code + "_")), None)
        raise errors.StateError("use the catalog", path, str(exc), hint=hint) from exc


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating it 0600 in a 0700 directory) the catalog at `path`."""
    with errors.state_writes("create the catalog", path):
        private_dirs(path.parent)
        create_private_file(path)
    with _sqlite_errors(path):
        db = sqlite3.connect(path, timeout=30, isolation_level=None, factory=_CatalogConnection)
    db.catalog_path = path  # type: ignore[attr-defined]
    return db
