"""`drkit restore NAME --to-database CONNECTION`: load one database's dump from a snapshot into a
running server (docs/recovery.md, "Databases").

The same job as a restore into a directory (drkit/jobs/restore.py: lock, snapshot choice, manifest,
one signed `restore` record), with a database instead of a directory at the end. Flow: choose the
snapshot -> find the dump of the database asked for (`--database`, or the only one) -> refuse a
target database that holds anything unless --force (exit 2, nothing written, nothing recorded) ->
restore just that dump and its `drkit-dump.json` into a private temporary directory -> verify both
against the manifest (a dump that does not match is never loaded: exit 4) -> load it (phase
`load`) and count the tables and rows the server then holds. The temporary copy is removed
whatever happened.
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from drkit.core import errors
from drkit.engines.databases.dumps import INDEX_NAME, DumpIndex
from drkit.engines.databases.load import RunningServer
from drkit.engines.restic import Listing, Node, Snapshot
from drkit.jobs.drill.sandbox import free_bytes, space_reason
from drkit.jobs.restore import _Restore, selector
from drkit.targets import target_kind


@dataclass(frozen=True)
class DumpChoice:
    """One database's dump in the snapshot, and the target and server that take it."""

    target: str          # the database target's name
    kind: str            # postgres, mysql
    database: str        # as dumped
    dump: Node           # the dump file in the snapshot
    index_path: str      # its drkit-dump.json in the snapshot
    server: RunningServer


class DatabaseRestore(_Restore):
    """A restore whose destination is a database on a running server."""

    def _run(self) -> None:
        ctx, request = self.ctx, self.request
        if request.target is not None or request.in_place or request.include:
            raise errors.UsageError("--to-database loads a dump into a server; leave out --target, --in-place "
                                    "and --include")
        with ctx.phase("preflight"):
            restic, chooser, listing, snapshot = self._choose()
            manifest, manifest_path = self._manifest(restic, listing, snapshot)
            self.detail.landed = []
            staging = posixpath.dirname(manifest_path) if manifest_path else None
            dump = self._choose_dump(listing, staging, snapshot)
            into = dump.server.target_database(dump.database)
            replaced = self._vet_database(dump, into)
            self.includes = [dump.dump.path, dump.index_path]
            self.selected = selector(self.includes)
            nodes = [node for node in listing.nodes if node.path in self.includes]
            self.ctx.bytes, self.ctx.files = dump.dump.size or 0, len(nodes)
            self.measured.update(include=self.includes, database=self._database_measured(dump, into, replaced))
            self.detail.database = self.measured["database"]  # the same dict: filled in as the load goes
            self.target = self.detail.target = self._workdir()
            self.measured["target"] = f"database {into} on {dump.server.connection}"
        try:
            with ctx.phase("restore"):
                self._restore(restic, snapshot, chooser)
            with ctx.phase("verify"):
                self._verify(nodes, manifest, manifest_path)
            with ctx.phase("load"):
                self._load(dump, into)
        finally:
            shutil.rmtree(self.target, ignore_errors=True)

    def _choose_dump(self, listing: Listing, staging: str | None, snapshot: Snapshot) -> DumpChoice:
        """The dump of `--database` (or the snapshot's only one) among the policy's database targets."""
        found = [dump for target in self.policy.targets for dump in self._dumps_of(target, listing, staging)]
        asked = self.request.database
        names = ", ".join(sorted(f"{d.target}/{d.database}" for d in found)) or "none"
        if not found:
            raise errors.UsageError(f"snapshot {snapshot.short_id} holds no database dumps of policy "
                                    f"{self.policy.name}",
                                    hint="--to-database loads the dump of a postgres or mysql target")
        matching = [d for d in found if asked is None or d.database == asked]
        if not matching:
            raise errors.UsageError(f"--database {asked}: not among the dumps of snapshot {snapshot.short_id} "
                                    f"({names})")
        if len(matching) > 1:
            raise errors.UsageError(f"snapshot {snapshot.short_id} holds several database dumps ({names})",
                                    hint="name one with --database" if asked is None else
                                    "several targets dumped it: keep one of them in a copy of the policy")
        matching[0].server.check()
        return matching[0]

    def _dumps_of(self, target: Any, listing: Listing, staging: str | None) -> list[DumpChoice]:
        """Every database dump a database target left in the snapshot (files `<db><suffix>` beside
        its drkit-dump.json in `<staging>/<name>/`)."""
        kind = target_kind(target)
        server = kind.running_server(target, self.request.to_database or "")
        if server is None or staging is None:
            return []
        directory = str(kind.restored_path(target, Path(staging)))
        index = posixpath.join(directory, INDEX_NAME)
        found = []
        for node in listing.nodes:
            parent, file = posixpath.split(node.path)
            if parent == directory and node.type == "file" and file.endswith(server.dump_suffix):
                database = unquote(file[:-len(server.dump_suffix)])
                found.append(DumpChoice(kind.name(target), server.kind, database, node, index, server))
        return found

    def _vet_database(self, dump: DumpChoice, into: str) -> int:
        """Refuse (exit 2, nothing written) a target database that holds anything, unless --force."""
        held = dump.server.objects(into)
        if held and not self.request.force:
            raise errors.UsageError(f"database {into} on {dump.server.connection} is not empty ({held} tables, views, "
                                    "sequences or routines)",
                                    hint="load into an empty or new database, or pass --force to replace the "
                                         "dump's objects")
        return held

    def _database_measured(self, dump: DumpChoice, into: str, replaced: int) -> dict[str, Any]:
        return {"target": dump.target, "kind": dump.kind, "database": dump.database, "loaded_into": into,
                "connection": dump.server.connection, "dump_bytes": dump.dump.size or 0, "server_version": "",
                "replaced_objects": replaced}

    def _workdir(self) -> Path:
        """A private directory for the dump on its way from the repository to the server."""
        path = Path(tempfile.mkdtemp(prefix="drkit-restore-db-"))
        reason = space_reason(path, free_bytes(path), self.ctx.bytes, label="temporary directory")
        if reason:
            shutil.rmtree(path, ignore_errors=True)
            raise errors.UsageError(reason, hint="point TMPDIR at a filesystem with room for the dump")
        return path

    def _load(self, dump: DumpChoice, into: str) -> None:
        """Load the verified dump and count what the server then holds."""
        directory = self.target / posixpath.dirname(dump.dump.path).lstrip("/")
        try:
            index = DumpIndex.read(directory)
        except ValueError as exc:
            raise errors.VerificationError(f"{dump.target}: {exc}") from None
        loaded = self.measured["database"]
        loaded["server_version"] = index.server_version
        started = time.monotonic()
        dump.server.load(directory / posixpath.basename(dump.dump.path), into, force=self.request.force,
                         series=index.server_series)
        counted = dump.server.count(into)
        loaded.update(loaded=True, tables=counted.tables, rows=counted.rows,
                      load_s=round(time.monotonic() - started, 3))
        self.detail.next_steps = dump.server.next_steps(into) + self.detail.next_steps
