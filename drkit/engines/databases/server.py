"""What every throw-away database server of a drill shares (docs/databases.md, "How a drill proves
recovery"): who it runs as, where its data and socket live, how it is started and always stopped.

A throw-away server listens on a unix socket in a private directory only (no TCP), its clients get
that socket explicitly and an environment without PG*/MYSQL* variables, so nothing a drill runs
can reach the live database. It is a tracked child of the process runner: SIGTERM to drkit, Ctrl-C
and the daemon's shutdown stop it like any other child, and `setpriv --pdeathsig` stops it when
drkit itself is killed. `Throwaway.stop` removes its data, whatever happened before.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from drkit.core import errors
from drkit.engines import process
from drkit.engines.databases.dumps import DumpIndex

START_TIMEOUT_S = 120.0   # a server that does not answer within this is an ERROR
SOCKET_PATH_MAX = 100     # sun_path holds 107 bytes; keep room for PostgreSQL's ".lock" suffix
HOME_IN_SANDBOX = ".drkit-db"


@dataclass(frozen=True)
class DatabaseRef:
    """The database a query check asks for: kind (postgres, mysql), optionally the target's name
    and the database (either may be left out when the policy leaves no doubt)."""

    kind: str
    server: str | None
    database: str | None


@dataclass(frozen=True)
class RunAs:
    """Who a throw-away server runs as: drkit's own user, or — drkit running as root — an
    unprivileged system user (servers refuse root, and a server started on production data should
    not have root's rights anyway)."""

    name: str
    uid: int
    gid: int
    switch: bool  # drkit is root: start the server's programs as this user

    @classmethod
    def for_drill(cls, configured: str | None, default: str) -> "RunAs":
        me = pwd.getpwuid(os.geteuid())
        if os.geteuid() != 0:
            if configured and configured != me.pw_name:
                raise errors.DrkitError(f"drill.run_as: '{configured}' needs drkit to run as root "
                                        f"(it runs as {me.pw_name}, and the throw-away server runs as that user)")
            return cls(me.pw_name, me.pw_uid, me.pw_gid, switch=False)
        name = configured or default
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            raise errors.DrkitError(f"drill.run_as: there is no user '{name}' on this host to run the throw-away "
                                    "database server", hint="install the server package or set drill.run_as") from None
        if user.pw_uid == 0:
            raise errors.DrkitError(f"drill.run_as: '{name}' is root; name an unprivileged user")
        return cls(name, user.pw_uid, user.pw_gid, switch=True)

    def argv(self, argv: Sequence[str], *, death_signal: str) -> list[str]:
        """`argv` run as this user, and stopped with `death_signal` when drkit dies (even SIGKILL)."""
        prefix = ["setpriv", f"--pdeathsig={death_signal}"]
        if self.switch:
            prefix += [f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups"]
        return [*prefix, "--", *argv]

    def own(self, path: Path) -> None:
        if self.switch:
            os.chown(path, self.uid, self.gid)


@dataclass
class ServerHome:
    """The throw-away server's private directory (0700, owned by its user): data and socket.

    Inside the sandbox when the server runs as drkit's own user. A server running as another user
    (drkit is root) cannot pass the sandbox's 0700 parents, and those stay 0700: its home is then a
    fresh private directory under TMPDIR instead. The socket moves to a short private directory
    when the home's path is too long for a unix socket."""

    path: Path
    socket_dir: Path
    made: list[Path] = field(default_factory=list)  # what `remove` deletes

    @classmethod
    def create(cls, sandbox: Path, name: str, run_as: RunAs, socket_name: str) -> "ServerHome":
        made: list[Path] = []
        if run_as.switch:
            path = _private_dir(f"drkit-db-{name}-", run_as)
            made.append(path)
        else:
            (sandbox / HOME_IN_SANDBOX).mkdir(mode=0o700, exist_ok=True)
            path = sandbox / HOME_IN_SANDBOX / name
            path.mkdir(mode=0o700)
            made.append(path)
        socket_dir = path
        if len(str(path / socket_name)) > SOCKET_PATH_MAX:
            socket_dir = _private_dir("drkit-sock-", run_as, directory="/tmp")
            made.append(socket_dir)
        return cls(path, socket_dir, made)

    def remove(self) -> None:
        for path in self.made:
            shutil.rmtree(path, ignore_errors=True)
        parent = self.path.parent
        if parent.name == HOME_IN_SANDBOX:
            try:
                parent.rmdir()  # the last server of the sandbox
            except OSError:
                pass


def _private_dir(prefix: str, run_as: RunAs, directory: str | None = None) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=directory))
    run_as.own(path)
    blocked = unreachable(path.parent, run_as)
    if blocked is not None:
        shutil.rmtree(path, ignore_errors=True)
        raise errors.DrkitError(f"drill: {run_as.name}, who runs the throw-away database server, cannot enter "
                                f"{blocked} (on the way to {path.parent})",
                                hint="point TMPDIR at a directory every user can pass, e.g. /var/tmp")
    return path


def unreachable(directory: Path, run_as: RunAs) -> Path | None:
    """The first directory on the way to `directory` that `run_as` may not pass, by its mode bits."""
    groups = {run_as.gid, *os.getgrouplist(run_as.name, run_as.gid)}
    for path in [*reversed(directory.parents), directory]:
        st = path.stat()
        if st.st_uid == run_as.uid:
            allowed = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            allowed = st.st_mode & stat.S_IXGRP
        else:
            allowed = st.st_mode & stat.S_IXOTH
        if not allowed:
            return path
    return None


def free_port() -> int:
    """A port number nobody listens on: it names the server's socket file (no TCP is opened)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_env() -> dict[str, str]:
    """drkit's environment without anything that could point a client at another server (PGHOST,
    PGSERVICE, PGPASSFILE, MYSQL_HOST, ...): a drill's clients reach only the throw-away server."""
    return {k: v for k, v in process.child_env().items() if not k.startswith(("PG", "MYSQL", "MARIADB"))}


def find_program(names: Sequence[str], extra_dirs: Sequence[str] = ("/usr/sbin", "/usr/libexec")) -> str | None:
    """The first of `names` on PATH or in `extra_dirs` (servers live in sbin, which users' PATH lacks)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *extra_dirs])
    return next((found for name in names if (found := shutil.which(name, path=path))), None)


class Throwaway(ABC):
    """A database server started for one drill on one target's restored dumps.

    Subclasses (one per server kind) implement `_start`, `load` and `query`; `start` and `stop`
    hold what every kind shares: user, home, the tracked server process and its removal."""

    kind: ClassVar[str]          # the target kind: postgres, mysql
    default_user: ClassVar[str]  # the system user the server runs as when drkit is root
    socket_name: ClassVar[str]   # the socket's file name in its directory (for the length check)
    stop_signal: ClassVar[signal.Signals]
    death_signal: ClassVar[str]  # setpriv --pdeathsig: what the server gets when drkit dies

    def __init__(self, name: str, dumps: Path, index: DumpIndex):
        self.name = name          # the target's name
        self.dumps = dumps        # the target's restored directory in the sandbox
        self.index = index
        self.home: ServerHome | None = None
        self.service: process.Service | None = None
        self.run_as: RunAs | None = None

    @property
    def databases(self) -> list[str]:
        return [d.database for d in self.index.databases]

    @property
    def label(self) -> str:
        return f"{self.kind} target {self.name}"

    def start(self, sandbox: Path, run_as: str | None) -> None:
        """Create the home, initialise and start the server, wait until it answers."""
        self.run_as = RunAs.for_drill(run_as, self.default_user)
        self.home = ServerHome.create(sandbox, self.name, self.run_as, self.socket_name)
        self._start(self.home, self.run_as)

    @abstractmethod
    def _start(self, home: ServerHome, run_as: RunAs) -> None:
        """Initialise a data directory in `home` and start the server (`self._serve`)."""

    @abstractmethod
    def load(self, database: str) -> None:
        """Load one database's dump; DrillFailed when the server does not take it whole."""

    @abstractmethod
    def query(self, database: str, sql: str, timeout: float) -> tuple[Any, ...] | None:
        """The first row the query returns (None: no rows); QueryFailed when the server refused it."""

    def stop(self) -> None:
        """Stop the server and remove its data; safe to call at any point, and more than once."""
        service, self.service = self.service, None
        if service is not None:
            service.stop()
        home, self.home = self.home, None
        if home is not None:
            home.remove()

    # --- for subclasses --------------------------------------------------------------------------

    def _init(self, argv: list[str], what: str) -> None:
        """Run a data-directory initialisation program as the server's user."""
        assert self.home is not None and self.run_as is not None
        done = self._run(self.run_as.argv(argv, death_signal="KILL"), timeout=START_TIMEOUT_S, cwd=self.home.path)
        if not done.ok:
            raise errors.DrkitError(f"{self.label}: {what} {done.status()}: {done.last_line()}")

    def _serve(self, argv: list[str]) -> None:
        assert self.home is not None and self.run_as is not None
        env = client_env() | {"TMPDIR": str(self.home.path)}
        try:
            self.service = process.serve(self.run_as.argv(argv, death_signal=self.death_signal), env=env,
                                         cwd=self.home.path, log=self.home.path / "server.log",
                                         stop_signal=self.stop_signal, label=f"{self.kind} server")
        except process.ProcessError as exc:
            raise errors.DrkitError(f"{self.label}: cannot start the throw-away server: {exc}") from None

    def _wait_ready(self, probe: list[str]) -> None:
        """Run `probe` until it exits 0; an ERROR naming the server's last log lines when the
        server ends first or does not answer within START_TIMEOUT_S."""
        assert self.service is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.service.running():
                raise errors.DrkitError(f"{self.label}: the throw-away server stopped while starting: "
                                        f"{self.service.log_tail()}")
            if self._run(probe, timeout=30).ok:
                return
            time.sleep(0.1)
        raise errors.DrkitError(f"{self.label}: the throw-away server did not answer within "
                                f"{START_TIMEOUT_S:.0f} s: {self.service.log_tail()}")

    def _run(self, argv: list[str], *, timeout: float | None, cwd: Path | None = None,
             stdin: Path | None = None) -> process.Completed:
        try:
            return process.run(argv, timeout=timeout, env=client_env(), cwd=cwd or (self.home.path if self.home else None),
                               stdin=stdin)
        except process.ProgramNotFound as exc:
            raise errors.DrkitError(f"{self.label}: {exc}", hint=self.install_hint()) from None
        except process.ProcessError as exc:
            raise errors.DrkitError(f"{self.label}: {exc}") from None

    def install_hint(self) -> str:
        return "install the database server package"


class QueryFailed(Exception):
    """The throw-away server refused or failed a check's query (its message is the server's)."""
