"""What every part of the catalog shares: one SQLite connection and the DDL of its own tables."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone


class Table:
    """A group of catalog tables and the queries over them. `SCHEMA` creates them if absent."""

    SCHEMA = ""

    def __init__(self, db: sqlite3.Connection):
        self.db = db


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
