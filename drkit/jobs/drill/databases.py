"""The drill's database stage: every database target's restored dumps brought back as a running
throw-away server, queried by the checks, then stopped and removed (docs/databases.md).

Timed on the drill's clock, so the recovery time covers them: `db_start:<target name>` (initialise
and start the server, create roles), `db_load:<database>` (restore each dump), and, while checks
run, `queries:<database>` for each query check. The service counts as back when its queries
answered. Stopping the servers and removing their data happens after the clock stops, whatever
the verdict, and also on SIGTERM and Ctrl-C.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from drkit.checks import CheckError, CheckFailed
from drkit.checks.paths import sandbox_path
from drkit.checks.registry import CheckContext, database_of
from drkit.core.policy import Policy
from drkit.engines.databases.server import DatabaseRef, Throwaway
from drkit.jobs.drill.clock import Stopwatch
from drkit.targets import target_kind

log = logging.getLogger("drkit")

START_PHASE = "db_start"
LOAD_PHASE = "db_load"
QUERY_PHASE = "queries"
CHECKS_PHASE = "checks"


@dataclass
class DatabaseStage:
    """The throw-away servers of one drill; `resolve` is what query checks ask (CheckContext)."""

    policy: Policy
    clock: Stopwatch
    servers: list[Throwaway] = field(default_factory=list)

    def bring_up(self, ctx: CheckContext) -> None:
        """Start a server per database target and load its dumps. A server that cannot start is an
        ERROR (DrkitError); a dump it does not take is a FAIL (VerificationError)."""
        if ctx.staging is None:
            return  # no drkit staging dir in the snapshot: nothing was dumped (the drill fails on the manifest)
        staging = sandbox_path(ctx, ctx.staging)
        for target in self.policy.targets:
            server = target_kind(target).throwaway(target, staging)
            if server is None:
                continue
            self.servers.append(server)
            self.clock.begin(f"{START_PHASE}:{server.name}")
            server.start(ctx.sandbox, self.policy.drill.run_as)
            for database in server.databases:
                self.clock.begin(f"{LOAD_PHASE}:{database}")
                server.load(database)
        self.clock.end()

    def resolve(self, ref: DatabaseRef) -> tuple[Throwaway, str]:
        """The server and database a query check means."""
        of_kind = [s for s in self.servers if s.kind == ref.kind]
        if ref.server is not None:
            of_kind = [s for s in of_kind if s.name == ref.server]
            if not of_kind:
                raise CheckError(f"no {ref.kind} target named '{ref.server}' in the policy")
        if not of_kind:
            raise CheckError(f"no {ref.kind} target in the policy: a {ref.kind}_query check queries the restored "
                             "dumps of one")
        if ref.database is None:
            names = [(s, d) for s in of_kind for d in s.databases]
            if len(names) != 1:
                raise CheckError(f"name the database to query (restored: {_listed(names)})")
            return names[0]
        holding = [s for s in of_kind if ref.database in s.databases]
        if not holding:
            names = [(s, d) for s in of_kind for d in s.databases]
            raise CheckFailed(f"database '{ref.database}' is not among the restored dumps "
                              f"(restored: {_listed(names)})")
        if len(holding) > 1:
            raise CheckError(f"several {ref.kind} targets hold a database '{ref.database}'; name the target "
                             f"with `server:` ({', '.join(s.name for s in holding)})")
        return holding[0], ref.database

    def phase_of(self, check: Any) -> str:
        """`queries:<database>` for a query check, `checks` for checks on files."""
        ref = database_of(check)
        if ref is None:
            return CHECKS_PHASE
        try:
            return f"{QUERY_PHASE}:{self.resolve(ref)[1]}"
        except (CheckError, CheckFailed):
            return CHECKS_PHASE  # the check itself reports the problem

    def close(self) -> list[str]:
        """Stop every server and remove its data; the problems, if any (never raises)."""
        problems = []
        for server in self.servers:
            try:
                server.stop()
            except Exception as exc:  # noqa: BLE001 - stopping the others matters more
                problems.append(f"{server.label}: could not stop the throw-away server: {exc}")
                log.warning("%s", problems[-1])
        return problems

    def measured(self, phases: dict[str, float]) -> dict[str, Any]:
        """For the drill's evidence: the servers started, and the time the database phases took."""
        database_s = sum(seconds for name, seconds in phases.items()
                         if name.split(":", 1)[0] in (START_PHASE, LOAD_PHASE, QUERY_PHASE))
        servers = [{"kind": s.kind, "target": s.name, "server_version": s.index.server_version,
                    "databases": s.databases, "run_as": s.run_as.name if s.run_as else None} for s in self.servers]
        dump_bytes = sum(d.bytes for s in self.servers for d in s.index.databases)
        return {"databases": servers, "database_s": database_s, "database_bytes": dump_bytes}


@dataclass(frozen=True)
class DatabaseTiming:
    """One database's phases in a drill, for runbooks and plans: its server's start (shared by the
    databases of one target, so given on the target's first row only), its load and its queries."""

    target: str
    database: str
    start_s: float | None  # None: the same server as the row above
    load_s: float | None
    queries_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "database": self.database, "db_start_s": self.start_s,
                "db_load_s": self.load_s, "queries_s": self.queries_s}


def database_timings(phases: dict[str, float], servers: list[dict[str, Any]]) -> list[DatabaseTiming]:
    """Per database of a drill's throw-away servers (`measured.databases`), what its phases took."""
    rows = []
    for server in servers:
        target = str(server.get("target", ""))
        for n, database in enumerate(server.get("databases") or []):
            rows.append(DatabaseTiming(target, database, phases.get(f"{START_PHASE}:{target}") if n == 0 else None,
                                       phases.get(f"{LOAD_PHASE}:{database}"), phases.get(f"{QUERY_PHASE}:{database}")))
    return rows


def _listed(names: list[tuple[Throwaway, str]]) -> str:
    return ", ".join(f"{s.name}/{d}" for s, d in names) or "none"
