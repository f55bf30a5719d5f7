"""evidence verify end to end: records made by real backups and drills, copies in a real bucket."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from factories import make_tree

pytestmark = pytest.mark.slow


@pytest.fixture
def source(tmp_path):
    return make_tree(tmp_path / "src", files=6)


def history(env, source, name="shop") -> None:
    """backup, backup, drill: three chained records, uploaded."""
    env.write_policy(name, [source], drill={"sandbox": str(env.root / "drills")})
    env.drkit("repo", "init", name, check=0)
    env.drkit("backup", name, check=0)
    (source / "README").write_text("second\n")
    env.drkit("backup", name, check=0)
    env.drkit("restore-drill", name, check=0)


def object_keys(seaweedfs, env, name="shop") -> list[str]:
    listing = seaweedfs.client().list_objects_v2(Bucket=env.bucket, Prefix=f"drkit-evidence/{name}/")
    return sorted(o["Key"] for o in listing.get("Contents", []))  # names start with the UTC finish time


def test_catalog_records_verify_and_an_edited_one_is_named(env, source):
    history(env, source)
    ok = env.drkit("evidence", "verify", check=0)
    assert ok.stdout.strip() == "3 records, 1 policy: signatures ok, chains intact"
    assert env.drkit("evidence", "verify", "--all", check=0).stdout == ok.stdout
    db = sqlite3.connect(env.state / "catalog.sqlite")
    digest, text, finished = db.execute("select digest, record, finished_at from evidence where kind = 'drill'").fetchone()
    db.execute("update evidence set record = ? where digest = ?", (text.replace('"result":"pass"', '"result":"fail"'), digest))
    db.commit()
    db.close()
    bad = env.drkit("evidence", "verify", check=4)
    assert f"catalog shop drill {finished}: signature does not match the record" in bad.stderr, bad.stderr
    assert re.search(r"^\d+ problems? in 3 records, 1 policy$", bad.stdout.strip())
    report = json.loads(env.drkit("evidence", "verify", "--json", check=4).stdout)
    assert report["schema"] == "drkit.evidence-verification/1"
    assert report["ok"] is False and report["records"] == 3 and report["problems"]


def test_record_files_as_stored_in_the_bucket(env, source, seaweedfs, tmp_path):
    history(env, source)
    s3 = seaweedfs.client()
    files = []
    for key in object_keys(seaweedfs, env):
        files.append(tmp_path / key.rsplit("/", 1)[1])
        files[-1].write_bytes(s3.get_object(Bucket=env.bucket, Key=key)["Body"].read())
    assert env.drkit("evidence", "verify", *map(str, files), check=0).stdout.startswith("3 records, 1 policy")
    data = json.loads(files[1].read_text())
    data["bytes"] += 1
    files[1].write_text(json.dumps(data, sort_keys=True, separators=(",", ":")))
    bad = env.drkit("evidence", "verify", *map(str, files), check=4)
    assert f"{files[1]}: signature does not match" in bad.stderr
    files[0].write_text("{ not json")
    assert f"{files[0]}: not a valid evidence record" in env.drkit("evidence", "verify", str(files[0]), check=4).stderr
    assert "one of them" in env.drkit("evidence", "verify", "--remote", str(files[0]), check=2).stderr


def test_remote_finds_a_deleted_middle_record_and_a_deleted_newest_record(env, source, seaweedfs):
    history(env, source)
    assert env.drkit("evidence", "verify", "--remote", check=0).stdout.startswith("3 records, 1 policy")
    keys = object_keys(seaweedfs, env)
    s3 = seaweedfs.client()
    s3.delete_object(Bucket=env.bucket, Key=keys[1])
    gap = env.drkit("evidence", "verify", "--remote", check=4)
    assert f"s3://{env.bucket}/{keys[2]}: record before it is missing or altered" in gap.stderr, gap.stderr
    assert "missing from the bucket" in gap.stderr
    env.drkit("evidence", "verify", check=0)  # the local catalog is still whole
    s3.delete_object(Bucket=env.bucket, Key=keys[2])  # now the newest is gone too: nothing points at it
    newest = env.drkit("evidence", "verify", "--remote", check=4)
    assert "drill record finished" in newest.stderr and "missing from the bucket (deleted?)" in newest.stderr


def test_records_from_another_host_verify_with_its_uploaded_key(env, source, seaweedfs, tmp_path):
    history(env, source)
    other_state = tmp_path / "other-host-state"
    other = env.env(DRKIT_STATE_DIR=str(other_state))
    env.write_policy("web", [source], drill={"sandbox": str(env.root / "drills")})
    env.drkit("repo", "init", "web", env=other, check=0)
    env.drkit("backup", "web", env=other, check=0)
    # this host's catalog knows nothing of `web`; the bucket holds its record and the other key
    remote = env.drkit("evidence", "verify", "--remote", check=0)
    assert remote.stdout.strip() == "4 records, 2 policies: signatures ok, chains intact"
    key = object_keys(seaweedfs, env, "web")[0]
    body = seaweedfs.client().get_object(Bucket=env.bucket, Key=key)["Body"].read()
    record_file = tmp_path / "web.json"
    record_file.write_bytes(body)
    assert env.drkit("evidence", "verify", str(record_file), check=0).stdout.startswith("1 record, 1 policy")

