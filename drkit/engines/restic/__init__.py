"""The only place that starts restic: one `Restic` per repository, one method per restic command.

The seams live in their own modules: `environment` (child env, password sources, credentials),
`runner` (start, stream, timeouts, interruption, stale-lock retry; generic child handling in
drkit/engines/process.py), `output` (restic's JSON as typed values), `classify` (stderr to typed
errors), `version` (binary and version floor). restic 0.14 (Debian bookworm) is the floor.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from drkit.core import errors
from drkit.engines.process import stop_child, terminate_running
from drkit.engines.restic.classify import classify, damage_lines, is_damage
from drkit.engines.restic.environment import restic_url
from drkit.engines.restic.output import (
    BackupMessages,
    BackupSummary,
    CheckReport,
    CopyReport,
    Listing,
    ListingMessages,
    Node,
    Snapshot,
    error_text,
    json_line,
    parse_copy,
    parse_forget,
    parse_raw_size,
    parse_restic_time,
    parse_snapshots,
)
from drkit.engines.restic.runner import LOCK_RETRY_DELAYS, ResticRunner, Result
from drkit.engines.restic.version import (
    INSTALL_HINT,
    MIN_VERSION,
    cached_version,
    check_version,
    installed_version,
)

# Names callers and tests imported from the single-module restic.py.
_json_line = json_line
_error_text = error_text
_restic_url = restic_url

__all__ = [
    "INSTALL_HINT", "LOCK_RETRY_DELAYS", "MIN_VERSION", "BackupSummary", "CheckReport", "CopyReport", "Listing", "Node",
    "Restic", "Result", "Snapshot", "check_version", "classify", "damage_lines", "installed_version", "parse_restic_time",
    "stop_child", "terminate_running",
]


class Restic(ResticRunner):
    """A restic repository as one policy configures it."""

    def version(self) -> tuple[int, int, int]:
        """restic's version (0.14 or newer, else ResticTooOld); remembered per binary in the state directory."""
        if self.version_cache is not None:
            return cached_version(self.binary, self.version_cache)
        return installed_version(self.binary)[0]

    @property
    def hostname(self) -> str:
        """The host restic records in a snapshot: the policy's, else this machine's (restic's own default)."""
        return self.host or socket.gethostname()

    def init(self, *, copy_chunker_params: bool = False) -> bool:
        """Initialize the repository; False when one already exists there.

        `copy_chunker_params` makes it a copy of `self.source` with the source's chunker
        parameters, so the same files chunk the same way and deduplication holds across copies
        (docs/repositories.md, "Copies")."""
        try:
            self.run(["snapshots", "--json", "--latest", "1"], what="open repository", timeout=120)
            return False
        except errors.NoRepository:
            pass
        args = ["init", "--copy-chunker-params"] if copy_chunker_params else ["init"]
        self.run(args, what="init repository", timeout=300, retry_lock=False)
        return True

    def copy(self, *, tags: list[str], timeout: float | None = None) -> CopyReport:
        """`restic copy` of the source's snapshots carrying every tag in `tags` that this repository
        lacks (restic skips those it copied before: it matches their `original` id). The source and
        its password reach restic as RESTIC_FROM_* variables (environment.py), never on argv."""
        args = ["copy", *(["--tag", ",".join(tags)] if tags else [])]
        return parse_copy(self.run(args, what="copy snapshots", timeout=timeout).stdout)

    def config(self) -> dict:
        """The repository's config (`restic cat config`): opening it proves the repository exists and
        the password opens one of its keys."""
        result = self.run(["cat", "config", "--no-lock", "--no-cache"], what="open repository", timeout=120,
                          retry_lock=False)
        return json.loads("\n".join(result.stdout) or "{}")

    def snapshots(self, *, tags: list[str] | None = None, host: str | None = None,
                  ids: Iterable[str] = ()) -> list[Snapshot]:
        """`restic snapshots`: every snapshot, or only `ids` (restic then reads only those files)."""
        args = ["snapshots", "--json", "--no-lock", *_flags("--tag", tags or [])]
        if host:
            args += ["--host", host]
        args += list(ids)
        return parse_snapshots(self.run(args, what="list snapshots", timeout=600).stdout)

    def backup(self, paths: list[Path], *, tags: list[str], excludes: list[str] = (),
               time_override: datetime | None = None, timeout: float | None = None,
               on_status: Callable[[dict], None] | None = None) -> tuple[BackupSummary, int]:
        """Back up absolute paths; returns the summary and restic's exit code (0, or 3 = partial).

        The host is always passed (`hostname`), so a caller knows every fact of the new snapshot
        without listing the repository again (docs/performance.md)."""
        args = ["backup", "--json", *_flags("--tag", tags), *_flags("--exclude", excludes), "--host", self.hostname]
        if time_override:
            # restic reads --time in the zone of its TZ, which child_env sets to UTC (no DST ambiguity)
            args += ["--time", time_override.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")]
        args += ["--", *map(str, paths)]

        def attempt() -> tuple[BackupSummary, int]:
            messages = BackupMessages(on_status)
            outcome = Result(-1, [], "")
            for line in self.stream(args, what="backup", timeout=timeout, ok_codes=(0, 3), outcome=outcome,
                                    on_stderr=messages.stderr):
                messages.stdout(line)
            return messages.summary(), outcome.returncode

        return self.retrying_locks(attempt)

    def ls(self, snapshot_id: str) -> Iterator[Node]:
        """Stream every node of a snapshot (restic ls --json: first line is the snapshot)."""
        for line in self.stream(["ls", "--json", "--no-lock", snapshot_id], what="list snapshot files", timeout=3600):
            msg = json_line(line)
            if msg and msg.get("struct_type") == "node":
                yield Node.from_json(msg)

    def restore(self, snapshot_id: str, target: Path, *, verify: bool = True, timeout: float | None = None) -> None:
        args = ["restore", snapshot_id, "--target", str(target)]
        if verify:
            args.append("--verify")
        self.run(args, what="restore", timeout=timeout)

    def list_snapshot(self, snapshot: str, *, tags: Iterable[str] = (), timeout: float | None = 3600,
                      on_stderr: Callable[[str], None] | None = None) -> Listing:
        """Every node of one snapshot plus the snapshot itself (first JSON line of `ls --json`).

        `snapshot` is an id (restic resolves prefixes) or "latest" (filtered by `tags`). restic 0.14
        exits 0 with only an "Ignoring ..." line on stderr when nothing matches: `snapshot` is then None.
        """
        notes: list[str] = []

        def stderr(line: str) -> None:
            notes.append(line)
            if on_stderr:
                on_stderr(line)

        listing = ListingMessages()
        for line in self.stream(["ls", "--json", "--no-lock", snapshot, *_flags("--tag", tags)],
                                what="list snapshot files", timeout=timeout, on_stderr=stderr):
            listing.stdout(line)
        return Listing(listing.snapshot, listing.nodes, [n for n in notes if n.strip()][-5:])

    def restore_verified(self, snapshot: str, target: Path, *, tags: Iterable[str] = (), timeout: float | None = None,
                         on_line: Callable[[str], None] | None = None,
                         on_stderr: Callable[[str], None] | None = None, includes: Iterable[str] = (),
                         readback: bool = True) -> list[str]:
        """`restore --verify`, handing each stdout line to `on_line` as restic prints it.

        restic 0.14 prints "verifying files in DIR" once every file is written and before it reads
        them back, so a caller can hash restored files alongside restic's own verification pass.
        `includes` are snapshot paths restored with everything below them (restic `--include`).
        `readback=False` leaves out `--verify`: for a caller that hashes every restored file against
        its own record of the source, which proves more (docs/performance.md).
        """
        args = ["restore", snapshot, "--target", str(target), *(["--verify"] if readback else []),
                *_flags("--tag", tags), *_flags("--include", [literal_pattern(path) for path in includes])]
        lines: list[str] = []
        for line in self.stream(args, what="restore", timeout=timeout, on_stderr=on_stderr):
            lines.append(line)
            if on_line:
                on_line(line)
        return lines

    def dump(self, snapshot: str, path: str, *, timeout: float | None = 3600) -> Iterator[bytes]:
        """One file of a snapshot, as restic streams it (a directory comes as a tar archive)."""
        return self.stream_bytes(["dump", "--no-lock", snapshot, path], what=f"dump {path}", timeout=timeout)

    def check(self, *, read_data_subset: str | None = None, timeout: float | None = None) -> CheckReport:
        """`restic check`; damage comes back as a report (restic exits 1 for it, as for everything)."""
        args = ["check"]
        if read_data_subset:
            args.append(f"--read-data-subset={read_data_subset}")

        def attempt() -> CheckReport:
            outcome = Result(-1, [], "")
            stdout = list(self.stream(args, what="check repository", timeout=timeout, ok_codes=(0, 1), outcome=outcome))
            if outcome.returncode == 0:
                return CheckReport(damaged=False, problems=[], stdout=stdout)
            exc = classify(outcome.returncode, outcome.stderr, "check repository", self.policy, self.repo.name)
            if not is_damage(exc, outcome.stderr):
                raise exc  # a RepositoryLocked goes back to retrying_locks
            return CheckReport(damaged=True, problems=damage_lines(outcome.stderr), stdout=stdout)

        return self.retrying_locks(attempt)

    def forget(self, retention_args: list[str], *, tags: list[str], dry_run: bool = False) -> list[dict]:
        args = ["forget", "--json", *retention_args, *_flags("--tag", tags)]
        if dry_run:
            args.append("--dry-run")
        return parse_forget(self.run(args, what="forget", timeout=3600).stdout)

    def forget_ids(self, snapshot_ids: list[str]) -> Result:
        """Forget exactly these snapshots (the guardrail's plan: retention minus the protected ones)."""
        return self.run(["forget", "--", *snapshot_ids], what="forget", timeout=3600)

    def prune(self) -> Result:
        return self.run(["prune"], what="prune", timeout=6 * 3600)

    def list_locks(self) -> list[str]:
        return [ln.strip() for ln in self.run(["list", "locks", "--no-lock"], what="list locks").stdout if ln.strip()]

    def stats_raw_size(self) -> int:
        result = self.run(["stats", "--json", "--mode", "raw-data", "--no-lock"], what="repository stats", timeout=600)
        return parse_raw_size(result.stdout)


def literal_pattern(path: str) -> str:
    """restic matches --include/--exclude as glob patterns: escape `*?[\\` to mean the path itself."""
    return re.sub(r"([*?\[\\])", r"\\\1", path)


def _flags(flag: str, values: Iterable[str]) -> list[str]:
    """`--tag a --tag b`: restic takes a repeatable flag once per value."""
    return [part for value in values for part in (flag, value)]
