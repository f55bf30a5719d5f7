"""Fixtures for real S3 servers over HTTP (see tests/servers.py).

    seaweedfs    session: `weed mini` on free loopback ports, data in a tmp dir
    moto_server  session: moto's ThreadedMotoServer, dummy credentials
    bucket       function: a fresh bucket `t-<8 hex>` on seaweedfs
    env          function: an isolated drkit installation on that bucket (tests/factories.py)
    source       function: a small deterministic source tree
    postgres_server  session: a private PostgreSQL cluster on a unix socket (tests/databases.py)
    mariadb_server   session: a private MariaDB on a unix socket

The S3 fixtures yield (bucket: returns) an S3Server: endpoint, access_key, secret_key, region,
kind, client(), env(), restic_url(bucket, path), start(), stop(). Servers start on first use only.
Tests that use them are marked `slow` (and `postgres` / `mariadb`); tests under tests/unit may not
use them.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:  # `import servers` works whatever pytest's import mode
    sys.path.insert(0, str(TESTS_DIR))

import databases  # noqa: E402
from factories import Env, make_env, make_tree  # noqa: E402
from servers import MotoS3, S3Server, SeaweedFS, ServerStartError  # noqa: E402

DATABASE_MARKERS = {"postgres_server": "postgres", "mariadb_server": "mariadb"}
SERVER_FIXTURES = frozenset({"seaweedfs", "moto_server", "bucket", *DATABASE_MARKERS})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misplaced = []
    for item in items:
        used = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if not used:
            continue
        item.add_marker(pytest.mark.slow)
        for fixture in used.intersection(DATABASE_MARKERS):
            item.add_marker(getattr(pytest.mark, DATABASE_MARKERS[fixture]))
        if TESTS_DIR / "unit" in item.path.parents:
            misplaced.append(f"{item.nodeid} uses {', '.join(sorted(used))}")
    if misplaced:
        raise pytest.UsageError(
            "unit tests must not start S3 servers; move these to tests/integration:\n  " + "\n  ".join(misplaced)
        )


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    try:
        server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
        server.start()
    except ServerStartError as error:
        pytest.fail(str(error), pytrace=False)
    yield server
    server.close()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    server = MotoS3()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bucket(seaweedfs: SeaweedFS) -> str:
    seaweedfs.start()  # a no-op unless an earlier test left the server stopped
    name = f"t-{uuid.uuid4().hex[:8]}"
    seaweedfs.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def env(tmp_path: Path, seaweedfs: SeaweedFS, bucket: str) -> Env:
    """An isolated drkit installation (policies, state, password file) on the session's SeaweedFS."""
    return make_env(tmp_path, seaweedfs, bucket)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A small deterministic source tree."""
    return make_tree(tmp_path / "src")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[databases.PostgresCluster]:
    try:
        server = databases.PostgresCluster()
    except (databases.ServerStartError, OSError) as error:
        pytest.fail(str(error), pytrace=False)
    yield server
    server.close()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[databases.MariaDBServer]:
    try:
        server = databases.MariaDBServer()
    except (databases.ServerStartError, OSError) as error:
        pytest.fail(str(error), pytrace=False)
    yield server
    server.close()
