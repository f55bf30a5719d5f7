"""The only module that starts restic.

Builds the child environment (password and S3 credentials never on argv), streams output,
parses JSON, classifies failures into typed errors, retries stale locks, enforces timeouts and
forwards termination to the child. restic 0.14 (Debian bookworm) is the floor; see
../shared/restic-notes.md for the measured behaviour this module relies on.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, TypeVar

from drkit.core import errors
from drkit.core.policy import Repository

MIN_VERSION = (0, 14, 0)
INSTALL_HINT = "install restic 0.14 or newer: apt-get install -y restic"
LOCK_RETRY_DELAYS = (2.0, 5.0, 10.0)
T = TypeVar("T")

# Children currently running, so a signal handler can stop them (see terminate_running).
_running: set[subprocess.Popen] = set()
_running_lock = threading.Lock()
# Children stopped by terminate_running: their exit is an interruption, not a restic failure.
_stopped: set[subprocess.Popen] = set()
_refusing = threading.Event()


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: datetime
    paths: list[str]
    hostname: str = ""
    tags: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, obj: dict) -> "Snapshot":
        return cls(
            id=obj["id"],
            short_id=obj.get("short_id", obj["id"][:8]),
            time=parse_restic_time(obj["time"]),
            paths=list(obj.get("paths") or []),
            hostname=obj.get("hostname", ""),
            tags=list(obj.get("tags") or []),
        )


@dataclass(frozen=True)
class BackupSummary:
    snapshot_short_id: str
    files_new: int
    files_changed: int
    files_unmodified: int
    total_files_processed: int
    total_bytes_processed: int
    data_added: int
    total_duration: float
    errors: list[str]

    @classmethod
    def from_json(cls, obj: dict, errors_seen: list[str]) -> "BackupSummary":
        return cls(
            snapshot_short_id=obj.get("snapshot_id", ""),
            files_new=obj.get("files_new", 0),
            files_changed=obj.get("files_changed", 0),
            files_unmodified=obj.get("files_unmodified", 0),
            total_files_processed=obj.get("total_files_processed", 0),
            total_bytes_processed=obj.get("total_bytes_processed", 0),
            data_added=obj.get("data_added", 0),
            total_duration=float(obj.get("total_duration", 0.0)),
            errors=errors_seen,
        )


@dataclass(frozen=True)
class Node:
    """One entry of `restic ls --json`."""

    path: str
    type: str  # file | dir | symlink | ...
    size: int
    mtime: str

    @classmethod
    def from_json(cls, obj: dict) -> "Node":
        return cls(path=obj["path"], type=obj["type"], size=int(obj.get("size") or 0), mtime=obj.get("mtime", ""))


@dataclass(frozen=True)
class Listing:
    """A snapshot's `restic ls --json`: the snapshot (None when nothing matched) and its nodes."""

    snapshot: Snapshot | None
    nodes: list[Node]
    notes: list[str] = field(default_factory=list)  # restic's stderr, e.g. why nothing matched


@dataclass
class Result:
    returncode: int
    stdout: list[str]
    stderr: str


def parse_restic_time(text: str) -> datetime:
    """restic prints RFC 3339 with nanoseconds and a zone offset; Python takes microseconds."""
    text = text.strip().replace("Z", "+00:00")
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match:
        frac = (match.group(2) or "")[:7]
        text = match.group(1) + frac + match.group(3)
    return datetime.fromisoformat(text)


def classify(returncode: int, stderr: str, what: str) -> errors.DrkitError:
    """Map a failed restic run to a typed error (restic exits 1 for nearly everything)."""
    text = stderr.lower()
    tail = _last_meaningful_line(stderr)
    if "wrong password" in text or "no key found" in text:
        return errors.WrongPassword(f"{what}: wrong repository password (restic: wrong password or no key found)",
                                    hint="check the policy's password source")
    if any(s in text for s in ("connection refused", "no such host", "i/o timeout", "network is unreachable",
                               "no route to host", "connection reset", "tls handshake timeout",
                               "context deadline exceeded")):
        return errors.Unreachable(f"{what}: repository unreachable ({tail})",
                                  hint="check the S3 endpoint, network and credentials")
    if "repository is already locked" in text:
        return errors.RepositoryLocked(f"{what}: repository is locked by another restic process ({tail})")
    if "unable to open config file" in text or "is there a repository" in text:
        return errors.NoRepository(f"{what}: no restic repository at the configured URL",
                                   hint="run: drkit repo init NAME")
    if "access denied" in text or "invalidaccesskeyid" in text or "signaturedoesnotmatch" in text:
        return errors.ResticError(f"{what}: S3 refused the credentials ({tail})",
                                  hint="check AWS credentials / aws_profile")
    if returncode == 3:
        return errors.PartialBackup(f"{what}: some source files could not be read ({tail})")
    return errors.ResticError(f"{what}: restic exited {returncode}: {tail or 'no error message'}")


def _last_meaningful_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith("Fatal:") or "error" in line.lower():
            return line.removeprefix("Fatal: ")[:300]
    return (lines[-1] if lines else "")[:300]


def stop_child(proc: subprocess.Popen, grace: float) -> None:
    """SIGINT, so restic removes its repository lock; SIGKILL when it has not ended after `grace`."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def terminate_running(grace: float = 10.0, *, refuse_new: bool = False) -> None:
    """Stop every restic child (SIGINT, then SIGKILL after `grace`).

    restic 0.14 cleans up (removes its repository lock) only on SIGINT; SIGTERM kills it on the
    spot and leaves a stale lock (measured: exit -15, lock listed afterwards). `refuse_new` makes
    later starts raise Interrupted, so a job that is shutting down cannot start another restic.
    """
    if refuse_new:
        _refusing.set()
    with _running_lock:
        children = list(_running)
        _stopped.update(children)
    for proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace
    for proc in children:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


class Restic:
    """A restic repository as one policy configures it."""

    def __init__(self, repo: Repository, *, credentials: dict[str, str] | None = None,
                 cache_dir: Path | None = None, binary: str = "restic", host: str | None = None):
        self.repo = repo
        self.credentials = credentials or {}
        self.cache_dir = cache_dir
        self.binary = binary
        self.host = host

    # --- environment ---------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env["RESTIC_REPOSITORY"] = _restic_url(self.repo.url)
        if self.repo.password_file:
            env["RESTIC_PASSWORD_FILE"] = str(self.repo.password_file)
        elif self.repo.password_command:
            env["RESTIC_PASSWORD_COMMAND"] = shlex.join(self.repo.password_command)
        elif self.repo.password_env:
            value = os.environ.get(self.repo.password_env)
            if not value:
                raise errors.UsageError(
                    f"repository.password_env: environment variable {self.repo.password_env} is not set")
            env["RESTIC_PASSWORD"] = value
        env.update(self.credentials)
        if self.cache_dir:
            env["RESTIC_CACHE_DIR"] = str(self.cache_dir)
        return env

    # --- running -------------------------------------------------------------------------

    def _popen(self, args: list[str], stdin: IO[bytes] | int | None) -> subprocess.Popen:
        binary = shutil.which(self.binary)
        if not binary:
            raise errors.ResticNotFound("restic not found on PATH", hint=INSTALL_HINT)
        # Own session: a terminal's Ctrl-C reaches drkit only, which then stops restic itself
        # (terminate_running), so a daemon's grace period holds for interactive runs too.
        with _running_lock:
            if _refusing.is_set():
                raise errors.Interrupted(f"{args[0] if args else 'restic'}: not started, drkit is shutting down")
            proc = subprocess.Popen([binary, *args], env=self.env(),
                                    stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=False,
                                    start_new_session=True)
            _running.add(proc)
        return proc

    def stream(self, args: list[str], *, what: str, stdin: IO[bytes] | int | None = None,
               timeout: float | None = None, on_stderr: Callable[[str], None] | None = None,
               ok_codes: Iterable[int] = (0,), outcome: Result | None = None) -> Iterator[str]:
        """Yield stdout lines as restic prints them; raise a typed error on failure.

        `outcome`, when given, receives the exit code and stderr tail once the child has ended.
        """
        proc = self._popen(args, stdin)
        stderr_tail: deque[str] = deque(maxlen=200)

        def pump() -> None:
            assert proc.stderr is not None
            for raw in proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                stderr_tail.append(line)
                if on_stderr:
                    on_stderr(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timer = _Watchdog(proc, timeout)
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                yield raw.decode("utf-8", "replace").rstrip("\n")
            proc.wait()
            reader.join(5)
        finally:
            timer.cancel()
            if proc.poll() is None:  # abandoned early (Ctrl-C, an exception in the caller)
                stop_child(proc, grace=10.0)
            with _running_lock:
                _running.discard(proc)
                stopped = proc in _stopped
                _stopped.discard(proc)
        if timer.fired:
            raise errors.ResticTimeout(f"{what}: restic did not finish within {timeout:.0f}s and was stopped")
        if proc.returncode < 0 or (stopped and proc.returncode != 0):
            raise errors.Interrupted(f"{what}: restic was stopped (exit {proc.returncode}) because drkit is shutting down"
                                     if stopped else f"{what}: restic was stopped by signal {-proc.returncode}")
        if proc.returncode not in tuple(ok_codes):
            raise classify(proc.returncode, "\n".join(stderr_tail), what)
        if outcome is not None:
            outcome.returncode = proc.returncode
            outcome.stderr = "\n".join(stderr_tail)

    def run(self, args: list[str], *, what: str, timeout: float | None = None,
            ok_codes: Iterable[int] = (0,), retry_lock: bool = True, stdin=None) -> Result:
        """Run to completion (small outputs only); retry stale locks with back-off."""
        def attempt() -> Result:
            outcome = Result(-1, [], "")
            outcome.stdout = list(self.stream(args, what=what, timeout=timeout, ok_codes=ok_codes,
                                              stdin=stdin, outcome=outcome))
            return outcome

        return self._retrying_locks(attempt) if retry_lock else attempt()

    def _retrying_locks(self, attempt: Callable[[], T]) -> T:
        """restic 0.14 has no --retry-lock: on "already locked", remove stale locks (`unlock` keeps
        live ones) and try again after 2, 5 and 10 s."""
        delays = list(LOCK_RETRY_DELAYS)
        while True:
            try:
                return attempt()
            except errors.RepositoryLocked:
                if not delays:
                    raise
                self.unlock_stale()
                time.sleep(delays.pop(0))

    def unlock_stale(self) -> None:
        """`restic unlock` removes only stale locks (dead pid on this host, or older than 30 min)."""
        try:
            self.run(["unlock"], what="unlock stale locks", timeout=120, retry_lock=False)
        except errors.ResticError:
            pass

    # --- commands ------------------------------------------------------------------------

    def version(self) -> tuple[int, int, int]:
        binary = shutil.which(self.binary)
        if not binary:
            raise errors.ResticNotFound("restic not found on PATH", hint=INSTALL_HINT)
        out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=30).stdout
        return check_version(out)

    def init(self) -> bool:
        """Initialize the repository; False when one already exists there."""
        try:
            self.run(["snapshots", "--json", "--latest", "1"], what="open repository", timeout=120)
            return False
        except errors.NoRepository:
            pass
        self.run(["init"], what="init repository", timeout=300, retry_lock=False)
        return True

    def snapshots(self, *, tags: list[str] | None = None, host: str | None = None) -> list[Snapshot]:
        args = ["snapshots", "--json", "--no-lock"]
        for tag in tags or []:
            args += ["--tag", tag]
        if host:
            args += ["--host", host]
        result = self.run(args, what="list snapshots", timeout=600)
        data = json.loads("\n".join(result.stdout) or "[]") or []
        return sorted((Snapshot.from_json(s) for s in data), key=lambda s: s.time)

    def backup(self, paths: list[Path], *, tags: list[str], excludes: list[str] = (),
               time_override: datetime | None = None, timeout: float | None = None,
               on_status: Callable[[dict], None] | None = None) -> tuple[BackupSummary, int]:
        """Back up absolute paths; returns the summary and restic's exit code (0, or 3 = partial)."""
        args = ["backup", "--json"]
        for tag in tags:
            args += ["--tag", tag]
        for pattern in excludes:
            args += ["--exclude", pattern]
        if self.host:
            args += ["--host", self.host]
        if time_override:
            args += ["--time", time_override.astimezone().strftime("%Y-%m-%d %H:%M:%S")]
        args += ["--", *map(str, paths)]
        def attempt() -> tuple[BackupSummary, int]:
            summary: dict | None = None
            seen_errors: list[str] = []
            outcome = Result(-1, [], "")

            def on_stderr(line: str) -> None:
                msg = _json_line(line)  # restic 0.14 prints per-file errors as JSON on stderr
                if msg and msg.get("message_type") == "error":
                    seen_errors.append(_error_text(msg))

            for line in self.stream(args, what="backup", timeout=timeout, ok_codes=(0, 3), outcome=outcome,
                                    on_stderr=on_stderr):
                msg = _json_line(line)
                if msg is None:
                    continue
                kind = msg.get("message_type")
                if kind == "summary":
                    summary = msg
                elif kind == "error":
                    seen_errors.append(_error_text(msg))
                elif kind == "status" and on_status:
                    on_status(msg)
            if summary is None:
                raise errors.ResticError("backup: restic finished without a summary line")
            return BackupSummary.from_json(summary, seen_errors), outcome.returncode

        return self._retrying_locks(attempt)

    def ls(self, snapshot_id: str) -> Iterator[Node]:
        """Stream every node of a snapshot (restic ls --json: first line is the snapshot)."""
        for line in self.stream(["ls", "--json", "--no-lock", snapshot_id], what="list snapshot files", timeout=3600):
            msg = _json_line(line)
            if msg and msg.get("struct_type") == "node":
                yield Node.from_json(msg)

    def restore(self, snapshot_id: str, target: Path, *, verify: bool = True, timeout: float | None = None) -> None:
        args = ["restore", snapshot_id, "--target", str(target)]
        if verify:
            args.append("--verify")
        self.run(args, what="restore", timeout=timeout)

    # --- drills (drill.py) -----------------------------------------------------------------

    def list_snapshot(self, snapshot: str, *, tags: Iterable[str] = (), timeout: float | None = 3600,
                      on_stderr: Callable[[str], None] | None = None) -> "Listing":
        """Every node of one snapshot plus the snapshot itself (first JSON line of `ls --json`).

        `snapshot` is an id (restic resolves prefixes) or "latest" (filtered by `tags`). restic 0.14
        exits 0 with only an "Ignoring ..." line on stderr when nothing matches: `snapshot` is then None.
        """
        args = ["ls", "--json", "--no-lock", snapshot]
        for tag in tags:
            args += ["--tag", tag]
        notes: list[str] = []

        def stderr(line: str) -> None:
            notes.append(line)
            if on_stderr:
                on_stderr(line)

        header: Snapshot | None = None
        nodes: list[Node] = []
        for line in self.stream(args, what="list snapshot files", timeout=timeout, on_stderr=stderr):
            msg = _json_line(line)
            if msg is None:
                continue
            if msg.get("struct_type") == "node":
                nodes.append(Node.from_json(msg))
            elif msg.get("struct_type") == "snapshot" and header is None:
                header = Snapshot.from_json(msg)
        return Listing(header, nodes, [n for n in notes if n.strip()][-5:])

    def restore_verified(self, snapshot: str, target: Path, *, tags: Iterable[str] = (), timeout: float | None = None,
                         on_line: Callable[[str], None] | None = None,
                         on_stderr: Callable[[str], None] | None = None) -> list[str]:
        """`restore --verify`, handing each stdout line to `on_line` as restic prints it.

        restic 0.14 prints "verifying files in DIR" once every file is written and before it reads
        them back, so a caller can hash restored files alongside restic's own verification pass.
        """
        args = ["restore", snapshot, "--target", str(target), "--verify"]
        for tag in tags:
            args += ["--tag", tag]
        lines: list[str] = []
        for line in self.stream(args, what="restore", timeout=timeout, on_stderr=on_stderr):
            lines.append(line)
            if on_line:
                on_line(line)
        return lines

    def check(self, *, read_data_subset: str | None = None, timeout: float | None = None) -> "CheckReport":
        """`restic check`; damage comes back as a report (restic exits 1 for it, as for everything)."""
        args = ["check"]
        if read_data_subset:
            args.append(f"--read-data-subset={read_data_subset}")
        def attempt() -> CheckReport:
            outcome = Result(-1, [], "")
            stdout = list(self.stream(args, what="check repository", timeout=timeout, ok_codes=(0, 1), outcome=outcome))
            if outcome.returncode == 0:
                return CheckReport(damaged=False, problems=[], stdout=stdout)
            exc = classify(outcome.returncode, outcome.stderr, "check repository")
            if type(exc) is not errors.ResticError or not any(m in outcome.stderr.lower() for m in _DAMAGE_MARKERS):
                raise exc  # a RepositoryLocked goes back to _retrying_locks
            return CheckReport(damaged=True, problems=damage_lines(outcome.stderr), stdout=stdout)

        return self._retrying_locks(attempt)

    def forget(self, retention_args: list[str], *, tags: list[str], dry_run: bool = False) -> list[dict]:
        args = ["forget", "--json", *retention_args]
        for tag in tags:
            args += ["--tag", tag]
        if dry_run:
            args.append("--dry-run")
        result = self.run(args, what="forget", timeout=3600)
        for line in result.stdout:
            line = line.strip()
            if line.startswith("["):
                return json.loads(line) or []
        return []

    def prune(self) -> Result:
        return self.run(["prune"], what="prune", timeout=6 * 3600)

    def list_locks(self) -> list[str]:
        return [ln.strip() for ln in self.run(["list", "locks", "--no-lock"], what="list locks").stdout if ln.strip()]

    def stats_raw_size(self) -> int:
        result = self.run(["stats", "--json", "--mode", "raw-data", "--no-lock"], what="repository stats", timeout=600)
        data = json.loads("\n".join(result.stdout) or "{}")
        return int(data.get("total_size", 0))


# What restic 0.14 `check` prints when it found damage (rather than failing to run at all).
_DAMAGE_MARKERS = ("repository contains errors", "pack id does not match", "ciphertext verification failed",
                   "loadindex returned errors", "pack file cannot be listed", "is damaged")


@dataclass(frozen=True)
class CheckReport:
    damaged: bool
    problems: list[str]   # restic's own error lines, e.g. "Pack ID does not match, want …, got …"
    stdout: list[str]


def damage_lines(stderr: str) -> list[str]:
    """The lines of `restic check` stderr that describe damage (indented detail joined to its head)."""
    problems: list[str] = []
    for line in stderr.splitlines():
        if not line.strip() or line.startswith("Fatal: repository contains errors"):
            continue
        if line[:1].isspace() and problems:
            problems[-1] += " " + line.strip()
        else:
            problems.append(line.strip())
    return problems[:100] or ["restic check: repository contains errors"]


def check_version(output: str) -> tuple[int, int, int]:
    match = re.search(r"restic (\d+)\.(\d+)\.(\d+)", output)
    if not match:
        raise errors.ResticNotFound(f"cannot tell the restic version from {output.strip()[:80]!r}", hint=INSTALL_HINT)
    version = tuple(int(x) for x in match.groups())
    if version < MIN_VERSION:
        raise errors.ResticTooOld(f"restic {'.'.join(map(str, version))} is too old; drkit needs 0.14 or newer",
                                  hint=INSTALL_HINT)
    return version  # type: ignore[return-value]


def _restic_url(url: str) -> str:
    return url.removeprefix("local:")


def _json_line(line: str) -> dict | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _error_text(msg: dict) -> str:
    """restic 0.14 marshals Go errors as {"Op","Path","Err"} (or {} when it cannot)."""
    err = msg.get("error")
    item = msg.get("item", "")
    if isinstance(err, dict):
        if "Err" in err and isinstance(err["Err"], int):
            text = f"{err.get('Op', 'access')}: {os.strerror(err['Err'])}"
        else:
            text = err.get("message") or f"error during {msg.get('during', 'backup')}"
    else:
        text = str(err or f"error during {msg.get('during', 'backup')}")
    return f"{item}: {text}" if item else text


class _Watchdog:
    """Kill the child after `timeout` seconds (SIGTERM, then SIGKILL)."""

    def __init__(self, proc: subprocess.Popen, timeout: float | None):
        self.fired = False
        self._timer = threading.Timer(timeout, self._fire, args=(proc,)) if timeout else None
        if self._timer:
            self._timer.daemon = True
            self._timer.start()

    def _fire(self, proc: subprocess.Popen) -> None:
        self.fired = True
        proc.send_signal(signal.SIGINT)  # restic 0.14 removes its lock on SIGINT only
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    def cancel(self) -> None:
        if self._timer:
            self._timer.cancel()
