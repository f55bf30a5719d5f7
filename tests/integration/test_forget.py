"""`drkit forget` against real restic and S3: keeps exactly what the retention says, touches only this
policy's snapshots, and refuses when forgetting would be unsafe."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from factories import Env, make_tree

pytestmark = pytest.mark.slow


def snapshot_at(env: Env, name: str, when: datetime, source: Path, *tags: str) -> str:
    """A snapshot with a chosen time, made by plain restic the way drkit tags its own."""
    out = env.restic(name, "backup", "--json", "--time", when.strftime("%Y-%m-%d %H:%M:%S"),
                     *[a for tag in tags for a in ("--tag", tag)], str(source)).stdout
    return json.loads(out.strip().splitlines()[-1])["snapshot_id"]   # the short id


def full_ids(env: Env, name: str, short: dict[str, str]) -> dict[str, str]:
    listing = {s["short_id"]: s["id"] for s in json.loads(env.restic(name, "snapshots", "--json").stdout)}
    return {label: listing[sid] for label, sid in short.items()}


def snapshot_ids(env: Env, name: str) -> set[str]:
    return {s["id"] for s in json.loads(env.restic(name, "snapshots", "--json").stdout)}


def test_forget_keeps_exactly_the_snapshots_the_retention_names(env: Env, source: Path) -> None:
    env.write_policy("shop", [source], retention={"keep_last": 2, "keep_daily": 4})
    env.drkit("repo", "init", "shop", check=0)
    newest = datetime.now().replace(microsecond=0) - timedelta(minutes=1)   # restic --time is local time
    day = newest.replace(hour=0, minute=0, second=0)
    times = {
        "s1": day - timedelta(days=10) + timedelta(hours=12),
        "s2": day - timedelta(days=5) + timedelta(hours=10),
        "s3": day - timedelta(days=5) + timedelta(hours=20),
        "s4": day - timedelta(days=3) + timedelta(hours=8),
        "s5": day - timedelta(days=2) + timedelta(hours=9),
        "s6": day - timedelta(days=2) + timedelta(hours=18),
        "s7": day - timedelta(days=1) + timedelta(hours=7),
        "s8": newest,
    }
    made = {label: snapshot_at(env, "shop", when, source, "drkit", "drkit-policy=shop") for label, when in times.items()}
    made["other"] = snapshot_at(env, "shop", times["s1"], source, "drkit", "drkit-policy=other")  # another policy's
    made["manual"] = snapshot_at(env, "shop", times["s2"], source)                             # an operator's
    ours = full_ids(env, "shop", made)
    other, manual = ours.pop("other"), ours.pop("manual")
    # keep_last 2 -> s8, s7; keep_daily 4 -> the newest of each of the 4 newest days: s8, s7, s6, s4
    expected_kept = {ours[k] for k in ("s8", "s7", "s6", "s4")}
    expected_removed = {ours[k] for k in ("s1", "s2", "s3", "s5")}

    dry = json.loads(env.drkit("forget", "shop", "--dry-run", "--json", check=0).stdout)
    assert (set(dry["detail"]["kept"]), set(dry["detail"]["removed"])) == (expected_kept, expected_removed)
    assert dry["record"] is None and dry["detail"]["pruned"] is False
    assert snapshot_ids(env, "shop") == set(ours.values()) | {other, manual}   # a dry run changes nothing

    done = json.loads(env.drkit("forget", "shop", "--json", check=0).stdout)
    assert (set(done["detail"]["kept"]), set(done["detail"]["removed"])) == (expected_kept, expected_removed)
    assert done["detail"]["pruned"] is True and done["status"] == "ok"
    assert snapshot_ids(env, "shop") == expected_kept | {other, manual}
    record = done["record"]
    assert record["kind"] == "forget" and record["result"] == "pass"
    assert (set(record["measured"]["kept"]), set(record["measured"]["removed"])) == (expected_kept, expected_removed)
    assert record["signature"]
    check = env.restic("shop", "check", check=False)
    assert check.returncode == 0, check.stderr                                  # prune left a sound repository

    text = env.drkit("forget", "shop", check=0).stdout
    assert text.startswith("OK shop: kept 4, removed 0 snapshots; pruned")


def test_forget_refuses_after_a_failed_backup_and_leaves_every_snapshot(env: Env, source: Path, tmp_path: Path) -> None:
    moving = tmp_path / "moving"
    make_tree(moving)
    env.write_policy("flaky", [moving], retention={"keep_last": 1})
    env.drkit("repo", "init", "flaky", check=0)
    env.drkit("backup", "flaky", check=0)
    env.drkit("backup", "flaky", check=0)
    before = snapshot_ids(env, "flaky")
    assert len(before) == 2
    for child in sorted(moving.rglob("*"), reverse=True):
        child.unlink() if not child.is_dir() or child.is_symlink() else child.rmdir()
    moving.rmdir()
    env.drkit("backup", "flaky", check=1)

    refused = env.drkit("forget", "flaky", check=3)
    assert "forget refused: the newest backup" in refused.stderr and "ended 'error'" in refused.stderr
    assert refused.stdout.startswith("REFUSED flaky")
    assert snapshot_ids(env, "flaky") == before
    data = json.loads(env.drkit("forget", "flaky", "--json", check=3).stdout)
    assert data["status"] == "breach" and data["record"]["result"] == "breach" and data["detail"]["removed"] is None


def test_forget_refuses_when_no_snapshot_is_younger_than_the_rpo(env: Env, source: Path) -> None:
    env.write_policy("stale", [source], retention={"keep_last": 1}, objectives={"rpo": "24h", "rto": "4h"})
    env.drkit("repo", "init", "stale", check=0)
    old = datetime.now().replace(microsecond=0) - timedelta(days=3)
    for hours in (0, 1):
        snapshot_at(env, "stale", old + timedelta(hours=hours), source, "drkit", "drkit-policy=stale")
    refused = env.drkit("forget", "stale", check=3)
    assert "no snapshot is younger than the RPO 1d" in refused.stderr
    assert len(snapshot_ids(env, "stale")) == 2
    dry = env.drkit("forget", "stale", "--dry-run", check=3)   # a dry run says so too
    assert "no snapshot is younger than the RPO" in dry.stderr


def test_forget_without_retention_is_a_usage_error(env: Env, source: Path) -> None:
    env.write_policy("plain", [source])
    proc = env.drkit("forget", "plain", check=2)
    assert proc.stderr.strip() == ("drkit: error: plain: the policy has no retention section; nothing to forget by "
                                   "(add e.g. retention: {keep_daily: 7, keep_weekly: 4})")
