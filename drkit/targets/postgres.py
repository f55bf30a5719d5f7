"""PostgreSQL: `pg_dump -Fc` into the staging directory (a consistent snapshot of one database).

The password comes from ~/.pgpass / PGPASSFILE / PGPASSWORD in the environment, never argv.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from drkit.core.errors import SourceMissing
from drkit.core.policy import PostgresTarget, _redact_dsn


def staged_path(target: PostgresTarget, staging: Path) -> Path:
    match = re.search(r"/([A-Za-z0-9_.-]+)(\?|$)", target.postgres.dsn.split("://", 1)[-1])
    name = match.group(1) if match else "database"
    return staging / "postgres" / f"{name}.dump"


def dump(target: PostgresTarget, staging: Path) -> Path:
    out = staged_path(target, staging)
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = ["pg_dump", "-Fc", "--file", str(out), *target.postgres.dump_args, "--dbname", target.postgres.dsn]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=6 * 3600)
    except FileNotFoundError:
        raise SourceMissing("postgres target: pg_dump not found (apt-get install -y postgresql-client)") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise SourceMissing(f"postgres target {_redact_dsn(target.postgres.dsn)}: pg_dump failed: {tail[0]}")
    return out
