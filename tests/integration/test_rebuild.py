"""`drkit catalog rebuild` on a new host: the offsite copy alone reproduces the report."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

pytestmark = pytest.mark.slow


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def history(env, source) -> tuple[str, str]:
    """A manual restic snapshot, two drkit backups and a drill; returns the report period."""
    since = datetime.now(timezone.utc) - timedelta(days=1)
    env.write_policy("shop", [source], objectives={"rpo": "1h", "rto": "4h"},
                     schedule={"drill": "every day at 04:00"})
    env.drkit("repo", "init", "shop", check=0)
    manual = (datetime.now(timezone.utc) - timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S")
    env.restic("shop", "backup", "--time", manual, str(source))
    env.drkit("backup", "shop", check=0)
    (source / "new.txt").write_text("more data")
    env.drkit("backup", "shop", check=0)
    env.drkit("restore-drill", "shop", check=0)
    until = datetime.now(timezone.utc) + timedelta(seconds=1)
    while datetime.now(timezone.utc) <= until:
        time.sleep(0.1)
    return stamp(since), stamp(until)


def report(env, since: str, until: str, *extra: str, state=None) -> dict:
    run_env = env.env(DRKIT_STATE_DIR=str(state)) if state else None
    proc = env.drkit("report", "--format", "json", "--since", since, "--until", until, *extra, env=run_env, check=0)
    data = json.loads(proc.stdout)
    data.pop("generated_at")
    return data


def test_report_after_rebuild_on_a_fresh_host_equals_the_report_before(env, source, tmp_path):
    since, until = history(env, source)
    before = report(env, since, until, "--refresh")
    (shop,) = before["policies"]
    assert shop["evidence"]["records"] == 3 and shop["evidence"]["verified"] == 3
    assert shop["evidence"]["by_kind"] == {"backup": 2, "drill": 1}
    assert shop["rto"]["last_pass_at"] is not None and shop["rto"]["rta_max_s"] > 0
    assert shop["rto"]["projected_full_rto_s"] is not None
    assert shop["verified_rpo"]["current_exposure_s"] is not None
    assert any("1 snapshot without drkit backup evidence" in c for c in shop["caveats"])

    fresh = tmp_path / "new-host-state"
    new_host = env.env(DRKIT_STATE_DIR=str(fresh))
    empty = report(env, since, until, state=fresh)
    assert empty["policies"][0]["evidence"]["records"] == 0  # nothing known before the rebuild

    proc = env.drkit("catalog", "rebuild", env=new_host, check=0)
    assert "OK shop: 3 snapshots, 3 evidence objects, 3 new records" in proc.stdout
    assert report(env, since, until, state=fresh) == before
    assert not (fresh / "keys").exists()  # rebuilding verifies with the bucket's keys, it signs nothing

    again = env.drkit("catalog", "rebuild", "--json", env=new_host, check=0)
    rebuilt = json.loads(again.stdout)
    assert rebuilt["schema"] == "drkit.catalog-rebuild/1" and rebuilt["policies"][0]["records_added"] == 0


def test_rebuild_flags_an_edited_evidence_object_and_the_report_does_not_count_it(env, source, tmp_path, seaweedfs):
    since, until = history(env, source)
    s3 = seaweedfs.client()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=env.bucket, Prefix="drkit-evidence/shop/")["Contents"]]
    (drill_key,) = [k for k in keys if "-drill-" in k]
    record = json.loads(s3.get_object(Bucket=env.bucket, Key=drill_key)["Body"].read())
    record["finished_at"] = record["started_at"]  # a faster drill than the one that happened
    s3.put_object(Bucket=env.bucket, Key=drill_key, Body=json.dumps(record).encode())

    fresh = tmp_path / "auditor-state"
    proc = env.drkit("catalog", "rebuild", env=env.env(DRKIT_STATE_DIR=str(fresh)), check=4)
    assert "signature does not match the record" in proc.stderr and drill_key in proc.stderr
    (shop,) = report(env, since, until, state=fresh)["policies"]
    assert shop["evidence"]["records"] == 3 and shop["evidence"]["verified"] == 2
    assert shop["rto"]["last_pass_at"] is None  # the edited drill proves nothing
    assert any("1 drill record failing signature verification" in c for c in shop["caveats"])


def test_rebuild_against_an_unreachable_bucket_exits_1_without_traceback(env, source, tmp_path):
    env.write_policy("shop", [source], repository={"url": "s3:http://127.0.0.1:9/nowhere/shop",
                                                  "password_file": str(env.password_file)})
    proc = env.drkit("catalog", "rebuild", env=env.env(DRKIT_STATE_DIR=str(tmp_path / "s")), check=1,
                     timeout=600)
    assert proc.stderr.count("FAILED shop") == 1 and "FAILED shop" not in proc.stdout  # the error, once


def test_report_refresh_imports_evidence_another_host_wrote(env, source, tmp_path):
    env.write_policy("shop", [source])
    env.drkit("repo", "init", "shop", check=0)
    env.drkit("backup", "shop", check=0)
    other = tmp_path / "other-host"
    since = stamp(datetime.now(timezone.utc) - timedelta(days=1))
    first = report(env, since, stamp(datetime.now(timezone.utc)), "--refresh", state=other)
    assert first["policies"][0]["evidence"]["records"] == 1
    (source / "later.txt").write_text("written after the other host's first look")
    env.drkit("backup", "shop", check=0)  # this host writes a second record to the bucket
    time.sleep(0.1)
    again = report(env, since, stamp(datetime.now(timezone.utc)), "--refresh", state=other)
    evidence = again["policies"][0]["evidence"]
    assert evidence["records"] == 2 and evidence["verified"] == 2
    assert again["policies"][0]["sources"][0].endswith("2 snapshots in the local listing")


def test_report_refresh_failure_is_printed_once_on_stderr(env, source, tmp_path):
    env.write_policy("shop", [source], repository={"url": str(tmp_path / "no-repository"),
                                                  "password_file": str(env.password_file)})
    proc = env.drkit("report", "--refresh", check=1)
    assert proc.stderr.count("no restic repository") == 1 and "no restic repository" not in proc.stdout
    assert "refresh of shop failed; its figures come from the local catalog" in proc.stdout
    data = json.loads(env.drkit("report", "--refresh", "--format", "json", check=1).stdout)
    assert data["notes"] == ["refresh of shop failed; its figures come from the local catalog"]
