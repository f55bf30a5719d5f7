"""Real database servers for the tests: a private PostgreSQL cluster and a private MariaDB.

Each runs from a fresh directory under /tmp on a unix socket only (no TCP), as an unprivileged
user: the `postgres` / `mysql` system user when the tests run as root, else the tests' own user.
Both have a backup role that logs in with a password (scram / mysql_native_password), so the
tests see the password travel the way a production one does. Importing this module starts
nothing; the session fixtures in conftest.py start a server on first use, and tests create their
own databases (`create_database`) so they never see each other's rows.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

START_TIMEOUT = 60.0
PG_BINDIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)


class ServerStartError(RuntimeError):
    pass


def _user(default: str) -> pwd.struct_passwd:
    return pwd.getpwnam(default) if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())


def _as(user: pwd.struct_passwd, argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--", *argv]


def _private_dir(prefix: str, user: pwd.struct_passwd) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chown(path, user.pw_uid, user.pw_gid)
    return path


class _Server:
    """A server process in its own session, stopped with `stop_signal`."""

    stop_signal = signal.SIGTERM

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def _launch(self, argv: list[str], log: Path, cwd: Path) -> None:
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=cwd, start_new_session=True)

    def _wait(self, probe, log: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerStartError(f"server exited {self.proc.returncode}: {log.read_text()[-2000:]}")
            if probe():
                return
            time.sleep(0.1)
        raise ServerStartError(f"server did not answer within {START_TIMEOUT}s: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, self.stop_signal)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class PostgresCluster(_Server):
    """initdb + postgres of the newest installed major version; `postgres` is a trusted superuser
    over the socket, `drkit_backup` a login role with `pg_read_all_data` and a password."""

    stop_signal = signal.SIGINT
    backup_user = "drkit_backup"

    def __init__(self) -> None:
        super().__init__()
        if not PG_BINDIRS:
            raise ServerStartError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bindir = PG_BINDIRS[0]
        self.user = _user("postgres")
        self.root = _private_dir("drkit-test-pg-", self.user)
        self.data = self.root / "data"
        self.port = 5432 + int(uuid.uuid4().int % 20000)
        self.password = "pg-" + secrets.token_hex(12)
        self._init()

    def _bin(self, name: str) -> str:
        return str(self.bindir / name)

    def _init(self) -> None:
        subprocess.run(_as(self.user, [self._bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                                       "-E", "UTF8", "--no-locale", "--no-sync"]),
                       check=True, capture_output=True, cwd=self.root, timeout=120)
        (self.data / "pg_hba.conf").write_text("local all postgres trust\nlocal all all scram-sha-256\n")
        self.start()
        self.sql(f"create role {self.backup_user} login password '{self.password}'; "
                 f"grant pg_read_all_data to {self.backup_user};")

    def start(self) -> None:
        if self.running:
            return
        self._launch(_as(self.user, [self._bin("postgres"), "-D", str(self.data), "-c", "listen_addresses=",
                                     "-c", f"unix_socket_directories={self.root}", "-c", f"port={self.port}",
                                     "-c", "fsync=off"]), self.root / "server.log", self.root)
        self._wait(lambda: subprocess.run([self._bin("pg_isready"), "-h", str(self.root), "-p", str(self.port)],
                                          capture_output=True).returncode == 0, self.root / "server.log")

    def sql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser; the output of the last statement (unaligned, tuples only)."""
        done = subprocess.run([self._bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.root),
                               "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"psql: {done.stderr.strip()}")
        return done.stdout.strip()

    def session(self, database: str) -> subprocess.Popen:
        """An interactive psql session (write SQL to its stdin), e.g. to hold a lock."""
        return subprocess.Popen([self._bin("psql"), "-X", "-q", "-h", str(self.root), "-p", str(self.port),
                                 "-U", "postgres", "-d", database], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, text=True)

    def dsn(self) -> str:
        """The backup role's connection, without its password (that goes into a password_file)."""
        return f"host={self.root} port={self.port} user={self.backup_user}"

    def create_database(self, rows: int = 500) -> str:
        """A fresh database `shop_<hex>` with `orders` (rows) and an unchanging `products` table."""
        name = f"shop_{uuid.uuid4().hex[:8]}"
        self.sql(f"create database {name}")
        self.sql("create table orders (id serial primary key, item text not null, qty int not null);"
                 f"insert into orders (item, qty) select 'item ' || i, i % 7 + 1 from generate_series(1, {rows}) i;"
                 "create table products (sku int primary key, name text);"
                 "insert into products select i, 'product ' || i from generate_series(1, 50) i;", name)
        return name

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class MariaDBServer(_Server):
    """mariadb-install-db + mariadbd --skip-networking; root logs in by unix_socket, `drkit_backup`
    by password with the grants docs/databases.md lists for dumping."""

    backup_user = "drkit_backup"

    def __init__(self) -> None:
        super().__init__()
        self.server = shutil.which("mariadbd", path=os.environ.get("PATH", "") + ":/usr/sbin")
        if self.server is None:
            raise ServerStartError("MariaDB is not installed (apt-get install mariadb-server)")
        self.user = _user("mysql")
        self.root = _private_dir("drkit-test-mariadb-", self.user)
        self.socket = self.root / "mysqld.sock"
        self.password = "my-" + secrets.token_hex(12)
        self.defaults_file = Path(tempfile.mkdtemp(prefix="drkit-test-mycnf-")) / "backup.cnf"
        self._init()

    def _init(self) -> None:
        subprocess.run(_as(self.user, ["mariadb-install-db", "--no-defaults", f"--datadir={self.root / 'data'}",
                                       "--auth-root-authentication-method=socket", "--skip-test-db"]),
                       check=True, capture_output=True, cwd=self.root, timeout=120)
        self.start()
        me = pwd.getpwuid(os.geteuid()).pw_name
        self.admin_user = me
        self.sql(f"create user {self.backup_user}@localhost identified by '{self.password}';"
                 f"grant select, show view, trigger, event, lock tables on *.* "  # docs/databases.md
                 f"to {self.backup_user}@localhost;")
        self.defaults_file.write_text(f"[client]\nuser={self.backup_user}\npassword={self.password}\n"
                                      f"socket={self.socket}\n")
        self.defaults_file.chmod(0o600)

    def start(self) -> None:
        if self.running:
            return
        self._launch(_as(self.user, [self.server, "--no-defaults", f"--datadir={self.root / 'data'}",
                                     f"--socket={self.socket}", "--skip-networking",
                                     f"--pid-file={self.root / 'mariadbd.pid'}", "--skip-log-bin",
                                     "--innodb-flush-log-at-trx-commit=0"]), self.root / "server.log", self.root)
        self._wait(lambda: subprocess.run(["mariadb", "--no-defaults", f"--socket={self.socket}", "-u",
                                           pwd.getpwuid(os.geteuid()).pw_name, "-e", "select 1"],
                                          capture_output=True).returncode == 0, self.root / "server.log")

    def sql(self, sql: str, database: str | None = None) -> str:
        done = subprocess.run(["mariadb", "--no-defaults", f"--socket={self.socket}", "-u", self.admin_user, "-N", "-B",
                               *([f"--database={database}"] if database else []), "-e", sql],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"mariadb: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, rows: int = 500) -> str:
        name = f"shop_{uuid.uuid4().hex[:8]}"
        self.sql(f"create database {name}")
        self.sql("create table orders (id int auto_increment primary key, item varchar(40) not null, qty int not null);"
                 f"insert into orders (item, qty) select concat('item ', seq), seq % 7 + 1 from seq_1_to_{rows};"
                 "create table products (sku int primary key, name varchar(40));"
                 "insert into products select seq, concat('product ', seq) from seq_1_to_50;"
                 "create trigger orders_qty before insert on orders for each row set new.qty = greatest(new.qty, 1);"
                 "create procedure order_count() select count(*) from orders;", name)
        return name

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.defaults_file.parent, ignore_errors=True)
