"""Faults of the state directory in the library (docs/reliability.md, "State-directory faults"):
a full or read-only file system is a StateError naming the path and the cause (exit 1), never
an OSError or sqlite3 error that `main()` would print as "internal error"."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from mounts import fill, tmpfs

from drkit.core.errors import ExitCode, StateError
from drkit.engines.catalog import Catalog
from drkit.engines.locks import PolicyLock
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record
from drkit.jobs.drill.sandbox import Sandbox

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def record(i: int) -> Record:
    return Record(kind="backup", policy="shop", started_at=T0 + timedelta(hours=i),
                  finished_at=T0 + timedelta(hours=i, minutes=1), result="pass", errors=["x" * 2000])


def test_a_full_disk_keeps_earlier_evidence_and_the_catalog_usable(tmp_path):
    with tmpfs(tmp_path / "fs", "256k") as fs:
        catalog = Catalog(fs / "state" / "catalog.sqlite")
        catalog.add_record(record(0))
        filler = fill(fs, leave_bytes=0)
        with pytest.raises(StateError) as exc:
            for i in range(1, 500):
                catalog.add_record(record(i))
        assert exc.value.exit_code == ExitCode.ERROR
        message = str(exc.value)
        assert f"{fs / 'state' / 'catalog.sqlite'}: " in message and "\n" not in message
        assert "full" in message or "disk I/O error" in message
        stored = len(list(catalog.records("shop")))
        assert stored >= 1  # nothing that was committed is lost
        filler.unlink()
        assert catalog.add_record(record(1000))
        assert len(list(catalog.records("shop"))) == stored + 1
        catalog.close()


@pytest.mark.parametrize("action", ["catalog", "key", "staging", "lock", "sandbox"])
def test_a_read_only_file_system_is_a_state_error_naming_the_path(tmp_path, action):
    with tmpfs(tmp_path / "ro", "64k", read_only=True) as ro:
        ws = Workspace(ro / "state")
        with pytest.raises(StateError) as exc:
            if action == "catalog":
                ws.catalog  # noqa: B018
            elif action == "key":
                ws.key  # noqa: B018
            elif action == "staging":
                ws.staging("shop")
            elif action == "lock":
                PolicyLock(ro, "shop").acquire()
            else:
                Sandbox(ro / "drills" / "shop-1").open()
        message = str(exc.value)
        assert message.startswith("cannot ") and f"{ro}" in message
        assert "Read-only file system" in message or "readonly" in message
        assert ("--sandbox DIR" if action == "sandbox" else "--state-dir DIR") in message


def test_a_lock_that_cannot_be_written_is_released(tmp_path):
    """ENOSPC on the holder line: the run does not start, and the flock is not left held."""
    with tmpfs(tmp_path / "fs", "64k") as fs:
        lock_dir = fs / "locks"
        lock_dir.mkdir()
        (lock_dir / "shop.lock").touch()
        filler = fill(fs)
        with pytest.raises(StateError, match="No space left on device"):
            PolicyLock(lock_dir, "shop").acquire()
        filler.unlink()
        with PolicyLock(lock_dir, "shop") as lock:
            assert lock.path.read_text().startswith("run, pid ")


def test_a_file_that_is_not_a_database_is_a_state_error(tmp_path):
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError) as exc:
        Catalog(path)
    assert "file is not a database" in str(exc.value) and "drkit catalog rebuild" in str(exc.value)
