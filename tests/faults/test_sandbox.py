"""Where a drill restores (docs/reliability.md): a sandbox on a file system too small for the
snapshot, and a sandbox overlapping a backup source or the state directory."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from aftermath import assert_intact, assert_nothing_left, assert_restorable, drill_results, one_line_error
from mounts import fill, tmpfs

from drkit.jobs.drill.sandbox import needed_bytes


def golden_bytes(env) -> int:
    """The size the golden backup's evidence records: what a drill's free-space check plans for."""
    db = sqlite3.connect(env.state / "catalog.sqlite")
    try:
        [(record,)] = db.execute("select record from evidence where kind = 'backup'").fetchall()
    finally:
        db.close()
    return json.loads(record)["bytes"]


# Free space left on a 2 MB tmpfs: less than the snapshot plus 10 %, refused before anything is
# written; or just enough by the backup's byte count, yet too little for files that each occupy
# whole 4 KiB pages, so the restore itself runs out of space.
SHORTAGES = {
    "refused_before_restoring": (lambda size: needed_bytes(size) // 2,
                                 "its filesystem has 0.0 MB free, the snapshot needs 0.1 MB + 10 % = 0.1 MB"),
    "full_during_the_restore": (lambda size: needed_bytes(size) + 8192,
                                "its filesystem ran out of space during the restore"),
}


@pytest.mark.parametrize("shortage", SHORTAGES)
def test_a_sandbox_on_a_file_system_too_small_is_refused_and_left_empty(backed_up, golden, tmp_path, shortage):
    env = backed_up
    leave, said = SHORTAGES[shortage]
    with tmpfs(tmp_path / "small", "2m") as small:
        fill(small, leave(golden_bytes(env)))
        proc = env.drkit("restore-drill", "shop", "--sandbox", str(small / "drill"), check=2)
        left = sorted(p.name for p in small.iterdir())
    line = one_line_error(proc.stderr)
    assert f"sandbox {small / 'drill'}: {said}" in line, line
    assert line.endswith("(free space or pass --sandbox on a larger filesystem)"
                         if shortage == "refused_before_restoring" else "(free space or pass --sandbox elsewhere)")
    assert left == ["filler"], left  # the half-restored tree is gone
    assert drill_results(env, "shop") == []  # refused as a usage error: no evidence
    assert_intact(env, "shop", snapshots=1)
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "restored")
    assert_nothing_left(env)


def tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.lstat().st_mtime_ns) for p in root.rglob("*"))


OVERLAPS = {
    "inside_a_source": (lambda env, source: source / "restore-here", "lies inside the backup source {source}"),
    "containing_a_source": (lambda env, source: source.parent, "contains the backup source {source}"),
    "inside_the_state_dir": (lambda env, source: env.state / "drill", "lies inside the drkit state dir {state}"),
}


@pytest.mark.parametrize("overlap", OVERLAPS)
def test_a_sandbox_overlapping_a_source_or_the_state_dir_is_refused_and_nothing_is_written(backed_up, golden,
                                                                                         tmp_path, overlap):
    env = backed_up
    where, said = OVERLAPS[overlap]
    sandbox = where(env, golden.source)
    before = tree(golden.source), sandbox.exists()
    proc = env.drkit("restore-drill", "shop", "--sandbox", str(sandbox), check=2)
    line = one_line_error(proc.stderr)
    assert f"sandbox {sandbox} {said.format(source=golden.source, state=env.state)}" in line, line
    assert line.endswith("(choose a sandbox outside every backup source and the state dir)")
    assert (tree(golden.source), sandbox.exists()) == before  # nothing created, nothing touched
    assert drill_results(env, "shop") == []
    assert_intact(env, "shop", snapshots=1)
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "restored")
    assert_nothing_left(env)
