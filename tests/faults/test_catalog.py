"""The local catalog lost (docs/reliability.md): deleted, then rebuilt from the bucket alone."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

from aftermath import assert_intact, assert_nothing_left, assert_restorable


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def report(env, since: str, until: str, *extra: str) -> dict:
    proc = env.drkit("report", "--format", "json", "--since", since, "--until", until, *extra, check=0)
    data = json.loads(proc.stdout)
    data.pop("generated_at")
    return data


def test_a_deleted_catalog_is_rebuilt_from_the_bucket_and_gives_the_same_report(backed_up, golden, tmp_path):
    env = backed_up
    since = stamp(datetime.now(timezone.utc) - timedelta(days=1))
    env.drkit("backup", "shop", check=0)
    env.drkit("restore-drill", "shop", check=0)
    until = datetime.now(timezone.utc) + timedelta(seconds=1)
    while datetime.now(timezone.utc) <= until:  # a closed period: the report no longer moves with the clock
        time.sleep(0.1)
    before = report(env, since, stamp(until), "--refresh")  # listed after the period, as the rebuild will
    assert before["policies"][0]["evidence"]["records"] == 3

    for lost in env.state.glob("catalog.sqlite*"):
        lost.unlink()
    proc = env.drkit("catalog", "rebuild", check=0)
    assert proc.stdout == "OK shop: 2 snapshots, 3 evidence objects, 3 new records\n" and proc.stderr == ""
    assert report(env, since, stamp(until)) == before

    env.drkit("backup", "shop", check=0)  # its record chains onto the rebuilt history
    verified = env.drkit("evidence", "verify", "--remote", check=0)
    assert verified.stdout.startswith("4 records, 1 policy: signatures ok, chains intact"), verified.stdout
    env.drkit("evidence", "verify", check=0)
    assert_intact(env, "shop", snapshots=3)
    assert_restorable(env, "shop", golden.snapshot_id, golden.source, tmp_path / "restored")
    assert_nothing_left(env)
