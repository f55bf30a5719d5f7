"""PostgreSQL: `pg_dump -Fc` into the staging directory (a consistent snapshot of one database).

The password comes from ~/.pgpass / PGPASSFILE / PGPASSWORD in the environment. A password written
into the DSN anyway is moved into pg_dump's environment, so it never shows in argv (/proc).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from pydantic import Field

from drkit.core.errors import SourceMissing
from drkit.core.policy import Model
from drkit.engines import process
from drkit.targets.registry import StagedKind, register_target

DUMP_TIMEOUT_S = 6 * 3600
_KV_PASSWORD = re.compile(r"(?:^|\s+)password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']\S*)")


class PostgresSource(Model):
    dsn: str = Field(description="libpq connection string; password via ~/.pgpass or PGPASSFILE, not inline")
    dump_args: list[str] = Field([], description="extra pg_dump arguments")


class PostgresTarget(Model):
    postgres: PostgresSource


def split_password(dsn: str) -> tuple[str, str | None]:
    """The DSN without its password, and the password (URI `user:pw@`, `?password=`, or `password=`)."""
    if "://" not in dsn:
        match = _KV_PASSWORD.search(dsn)
        if match is None:
            return dsn, None
        value = match.group(1)
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        return (dsn[:match.start()] + dsn[match.end():]).strip(), value
    parts = urlsplit(dsn)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.password is None and all(key != "password" for key, _ in query):
        return dsn, None
    password = unquote(parts.password) if parts.password is not None else None
    netloc = parts.netloc
    if password is not None:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    password = next((v for k, v in query if k == "password"), password)
    rest = urlencode([(k, v) for k, v in query if k != "password"])
    # Not urlunsplit: it drops the `//` of an empty host (`postgresql:///db?host=/run/postgresql`, libpq's
    # unix-socket form), and libpq then reads `postgresql:/db?host` as a key=value option.
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{rest}" if rest else ""), password


def pg_dump_call(target: PostgresTarget, out: Path) -> tuple[list[str], dict[str, str]]:
    """pg_dump's argv and extra environment; a password written into the DSN goes to PGPASSWORD."""
    dsn, password = split_password(target.postgres.dsn)
    argv = ["pg_dump", "-Fc", "--file", str(out), *target.postgres.dump_args, "--dbname", dsn]
    return argv, ({"PGPASSWORD": password} if password is not None else {})


@register_target(PostgresTarget, key="postgres")
class PostgresKind(StagedKind[PostgresTarget]):
    def label(self, target: PostgresTarget) -> str:
        return f"postgres {split_password(target.postgres.dsn)[0]}"

    def staged_name(self, target: PostgresTarget) -> str:
        match = re.search(r"/([A-Za-z0-9_.-]+)(\?|$)", target.postgres.dsn.split("://", 1)[-1])
        return f"postgres/{match.group(1) if match else 'database'}.dump"

    def dump(self, target: PostgresTarget, out: Path) -> None:
        argv, extra_env = pg_dump_call(target, out)
        dsn = argv[-1]
        try:
            done = process.run(argv, timeout=DUMP_TIMEOUT_S, env=process.child_env(extra_env))
        except process.ProgramNotFound:
            raise SourceMissing("postgres target: pg_dump not found", hint="apt-get install -y postgresql-client") from None
        except process.ProcessError as exc:
            raise SourceMissing(f"postgres target {dsn}: {exc}") from None
        if not done.ok:
            raise SourceMissing(f"postgres target {dsn}: pg_dump failed: {done.last_line()}")

    def runbook(self, target: PostgresTarget, restored: str) -> str:
        return ("a `pg_dump -Fc` archive: `pg_restore --clean --if-exists --dbname \"<target database>\" "
                f"\"$RESTORE/{restored}\"`")
