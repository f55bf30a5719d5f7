"""The state directory is private (docs/reliability.md, "Local exposure"): what drkit creates
there is 0700/0600 whatever the umask, and an older, looser state directory is repaired on open."""

from __future__ import annotations

import logging
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

from drkit.core.atomic import write_text_atomically
from drkit.core.policy import Policy
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record

POLICY = Policy.model_validate({
    "version": 1, "name": "shop", "objectives": {"rpo": "1d", "rto": "4h"}, "targets": [{"path": "/srv/shop"}],
    "repository": {"url": "/srv/repos/shop", "password_env": "PW"}})


def loose_modes(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        info = os.lstat(path)
        if not stat.S_ISLNK(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077:
            found.append(f"{path.relative_to(root.parent)} {stat.S_IMODE(info.st_mode):04o}")
    return found


def use_like_a_backup(state: Path) -> Workspace:
    """What a backup does to the state dir, short of restic: lock, staging, evidence record."""
    ws = Workspace(state)
    with ws.lock("shop", "backup"):
        staging = ws.staging("shop")
        ws.record(POLICY, Record(kind="backup", policy="shop", started_at=datetime.now(timezone.utc),
                                 finished_at=datetime.now(timezone.utc), result="pass"), upload=False)
    assert staging.is_dir() and (state / "catalog.sqlite-wal").exists()
    return ws


def test_everything_drkit_creates_in_the_state_dir_is_private_under_a_loose_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        ws = use_like_a_backup(tmp_path / "deep" / "state")
        assert loose_modes(tmp_path / "deep" / "state") == []
        assert stat.S_IMODE((tmp_path / "deep" / "state" / "catalog.sqlite-shm").stat().st_mode) == 0o600
        ws.catalog.close()
    finally:
        os.umask(previous)


def test_an_old_state_dir_is_repaired_on_open_and_logged_once(tmp_path, caplog):
    state = tmp_path / "state"
    use_like_a_backup(state).catalog.close()
    for path in [state, *state.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    (state / "restic-cache").mkdir(mode=0o755)
    (state / "restic-cache" / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
    (state / "restic-cache" / "CACHEDIR.TAG").chmod(0o644)
    assert len(loose_modes(state)) > 5
    with caplog.at_level(logging.INFO, logger="drkit"):
        Workspace(state).catalog.close()
        first = [r.getMessage() for r in caplog.records if "made private" in r.getMessage()]
        Workspace(state).catalog.close()
    assert loose_modes(state) == []
    [message] = [r.getMessage() for r in caplog.records if "made private" in r.getMessage()]
    assert first == [message] and f"{state} 0755->0700" in message and "more" in message


def test_outputs_for_others_stay_readable_under_the_private_umask(tmp_path):
    previous = os.umask(0o077)
    try:
        write_text_atomically(tmp_path / "www" / "reports" / "report.html", "<html/>")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "www").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "www" / "reports" / "report.html").stat().st_mode) == 0o644
