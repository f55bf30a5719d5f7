"""restore-drill end to end: real restic, a real SeaweedFS over HTTP, the real CLI as a process."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from factories import same_tree

pytestmark = pytest.mark.slow


def backed_up(env, source, name="shop", **sections) -> dict:
    """A policy with one backup; returns the backup's evidence record."""
    env.write_policy(name, [source], **sections)
    env.drkit("repo", "init", name, check=0)
    return json.loads(env.drkit("backup", name, "--json", check=0).stdout)["runs"][0]["record"]


def drill(env, *args, check: int) -> dict:
    proc = env.drkit("restore-drill", *args, "--json", check=check)
    return json.loads(proc.stdout)["record"]


def tree_listing(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.lstat().st_mtime_ns) for p in root.rglob("*"))


def drills_dir(env) -> Path:
    return env.root / "drills"


# --- PASS --------------------------------------------------------------------------------------------

def test_pass_restores_verifies_records_signed_evidence_and_cleans_up(env, source):
    backup = backed_up(env, source)
    record = drill(env, "shop", check=0)
    m = record["measured"]
    assert record["kind"] == "drill" and record["result"] == "pass"
    assert record["snapshot_id"] == backup["snapshot_id"] and re.fullmatch(r"[0-9a-f]{64}", record["snapshot_id"])
    assert record["snapshot_time"] == backup["snapshot_time"]
    # phases (other included) add up to the recovery time, which is finished_at - started_at
    assert set(record["phases"]) == {"preflight", "restore", "verify", "checks", "other"}
    assert sum(record["phases"].values()) == pytest.approx(m["rta_s"], abs=1e-6)
    assert m["restore_verify_s"] == pytest.approx(record["phases"]["restore"] + record["phases"]["verify"])
    assert m["rto_s"] == 4 * 3600 and m["rta_s"] < m["rto_s"]
    # every source file came back and was hashed against the manifest the snapshot carries
    source_files = [p for p in source.rglob("*") if p.is_file() and not p.is_symlink()]
    assert m["files_restored"] == len(source_files) + 1  # + the manifest
    assert m["bytes_restored"] == record["bytes"] and m["files_restored"] == record["files"]
    assert m["verify"] == "full" and m["files_hashed"] == len(source_files) == m["hash_candidates"]
    assert m["restic_verify"] is False  # every file hashed against the manifest: no second read-back by restic
    assert m["changed_during_backup"] == 0 and m["manifest_authenticated"] is True
    assert m["manifest_sha256"] == backup["measured"]["manifest_sha256"]
    assert m["symlinks_restored"] == 1 and m["sandbox_kept"] is False
    assert record["signature"] and record["prev"]
    assert not Path(m["sandbox"]).exists() and drills_dir(env).is_dir()
    verified = env.drkit("evidence", "verify", check=0)
    assert verified.stdout.strip() == "2 records, 1 policy: signatures ok, chains intact"
    keys = [o["Key"] for o in env_client(env).list_objects_v2(Bucket=env.bucket, Prefix="drkit-evidence/shop/")["Contents"]]
    assert sum("-drill-" in k for k in keys) == 1


def env_client(env):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=env.endpoint, aws_access_key_id=env.s3_env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env.s3_env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))


def test_text_output_has_phase_table_and_verdict_line(env, source):
    backed_up(env, source)
    proc = env.drkit("restore-drill", "shop", check=0)
    for phase in ("preflight", "restore", "verify", "checks", "total"):
        assert phase in proc.stdout
    assert re.search(r"^PASS shop: recovered [\d.]+ kB / 23 files in [\d.]+ s \(RTO 4h, [\d.]+ % of budget\)$",
                     proc.stdout, re.M), proc.stdout


def test_keep_leaves_a_private_exact_copy(env, source, tmp_path):
    backed_up(env, source)
    sandbox = tmp_path / "mine"
    record = drill(env, "shop", "--sandbox", str(sandbox), "--keep", check=0)
    assert record["measured"]["sandbox_kept"] is True and record["measured"]["sandbox"] == str(sandbox)
    assert stat.S_IMODE(sandbox.stat().st_mode) == 0o700
    assert same_tree(source, sandbox / str(source).lstrip("/"))


def test_checks_on_restored_data_sqlite_file_and_command(env, source, tmp_path):
    db = tmp_path / "app" / "app.db"
    db.parent.mkdir()
    con = sqlite3.connect(db)
    con.execute("create table orders (id integer primary key)")
    con.executemany("insert into orders values (?)", [(i,) for i in range(5)])
    con.commit()
    con.close()
    readme = source / "README"
    checks = [
        {"file_exists": str(readme)},
        {"sqlite": {"path": str(db), "query": "select count(*) from orders", "expect": 5}},
        {"command": [sys.executable, "-c", "import sys; sys.exit(open(sys.argv[1]).read() != sys.argv[2])",
                     "{sandbox}" + str(readme), readme.read_text()]},
    ]
    env.write_policy("shop", [source], targets=[{"path": str(source)}, {"sqlite": str(db)}],
                     drill={"sandbox": str(drills_dir(env)), "checks": checks})
    env.drkit("repo", "init", "shop", check=0)
    env.drkit("backup", "shop", check=0)
    db.unlink()  # the live database is gone: the check must read the restored copy
    record = drill(env, "shop", check=0)
    results = record["measured"]["checks"]
    assert [c["passed"] for c in results] == [True, True, True], results
    assert all(c["seconds"] >= 0 for c in results)
    assert "query = 5" in results[1]["detail"]


# --- BREACH, FAIL, ERROR -----------------------------------------------------------------------------

def test_breach_when_the_recovery_takes_longer_than_the_rto(env, source):
    backed_up(env, source, objectives={"rpo": "24h", "rto": "1s"},
              drill={"sandbox": str(drills_dir(env)), "checks": [{"command": ["sleep", "1.5"]}]})
    record = drill(env, "shop", check=3)
    assert record["result"] == "breach" and record["measured"]["rta_s"] > 1.5
    assert record["measured"]["checks"][0]["passed"] is True
    assert not any(drills_dir(env).iterdir())
    proc = env.drkit("restore-drill", "shop", check=3)
    assert re.search(r"^BREACH shop: recovered .* \(RTO 1s, \d+\.\d % of budget\)$", proc.stdout, re.M)


def test_damaged_pack_fails_and_leaves_no_sandbox(env, source):
    backup = backed_up(env, source)
    s3 = env_client(env)
    packs = s3.list_objects_v2(Bucket=env.bucket, Prefix="shop/data/")["Contents"]
    biggest = max(packs, key=lambda o: o["Size"])
    s3.put_object(Bucket=env.bucket, Key=biggest["Key"], Body=os.urandom(biggest["Size"]))
    proc = env.drkit("restore-drill", "shop", "--json", check=4)
    record = json.loads(proc.stdout)["record"]
    assert record["result"] == "fail" and record["snapshot_id"] == backup["snapshot_id"]
    assert "ciphertext verification failed" in record["errors"][0], record["errors"]
    assert "repository may be damaged" in record["errors"][0]
    assert not any(drills_dir(env).iterdir())


def test_a_failing_check_fails_the_drill(env, source):
    backed_up(env, source, drill={"sandbox": str(drills_dir(env)),
                                  "checks": [{"file_exists": "no/such/file"}, {"file_exists": str(source / "README")}]})
    proc = env.drkit("restore-drill", "shop", "--keep", check=4)
    assert "FAIL shop: check failed: file_exists no/such/file: not in the restored tree" in proc.stdout
    assert not any(drills_dir(env).iterdir())  # --keep never keeps a failed drill
    record = json.loads(env.drkit("restore-drill", "shop", "--json", check=4).stdout)["record"]
    assert record["result"] == "fail" and [c["passed"] for c in record["measured"]["checks"]] == [False, True]


def test_postgres_query_check_without_a_postgres_target_is_an_error_not_a_pass(env, source):
    backed_up(env, source, drill={"sandbox": str(drills_dir(env)),
                                  "checks": [{"postgres_query": {"sql": "select 1", "expect": 1}}]})
    proc = env.drkit("restore-drill", "shop", check=1)
    assert "ERROR shop:" in proc.stdout and "no postgres target in the policy" in proc.stderr


def test_plain_restic_snapshot_without_manifest_fails(env, source):
    backed_up(env, source)
    env.restic("shop", "backup", "--tag", "drkit-policy=shop", str(source))
    plain = json.loads(env.restic("shop", "snapshots", "--json", "--latest", "1", "--tag", "drkit-policy=shop").stdout)
    short = [s for s in plain if "drkit" not in s["tags"]][0]["short_id"]
    record = drill(env, "shop", "--snapshot", short, check=4)
    assert record["result"] == "fail" and record["snapshot_id"].startswith(short)
    assert "cannot verify: snapshot" in record["errors"][0] and "no drkit manifest" in record["errors"][0]
    assert not drills_dir(env).exists() or not any(drills_dir(env).iterdir())
    # `latest` among drkit-policy snapshots is that plain one now: never a PASS either
    assert drill(env, "shop", check=4)["result"] == "fail"


# --- sandbox refusals ---------------------------------------------------------------------------------

def test_sandbox_inside_a_source_or_state_dir_is_refused_and_nothing_is_written(env, source):
    backed_up(env, source)
    before = tree_listing(source)
    for sandbox, words in [(source / "restore", "lies inside the backup source"), (source, "is the backup source"),
                           (source.parent, "contains the backup source"),
                           (env.state / "drill", "lies inside the drkit state dir")]:
        proc = env.drkit("restore-drill", "shop", "--sandbox", str(sandbox), check=2)
        assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert tree_listing(source) == before
    assert not (env.state / "drill").exists() and not drills_dir(env).exists()


def test_policy_sandbox_parent_inside_a_source_is_refused(env, source):
    backed_up(env, source, drill={"sandbox": str(source / "drills")})
    before = tree_listing(source)
    proc = env.drkit("restore-drill", "shop", check=2)
    assert "lies inside the backup source" in proc.stderr
    assert tree_listing(source) == before


def test_non_empty_sandbox_is_refused_and_left_alone(env, source, tmp_path):
    backed_up(env, source)
    sandbox = tmp_path / "busy"
    sandbox.mkdir()
    (sandbox / "precious.txt").write_text("keep me")
    proc = env.drkit("restore-drill", "shop", "--sandbox", str(sandbox), check=2)
    assert "is not empty" in proc.stderr
    assert [p.name for p in sandbox.iterdir()] == ["precious.txt"] and (sandbox / "precious.txt").read_text() == "keep me"


# --- choosing the snapshot -----------------------------------------------------------------------------

def test_snapshot_by_short_or_full_id_and_unknown_ids(env, source):
    first = backed_up(env, source)["snapshot_id"]
    (source / "README").write_text("changed\n")
    env.drkit("backup", "shop", check=0)
    assert drill(env, "shop", "--snapshot", first[:8], check=0)["snapshot_id"] == first
    assert drill(env, "shop", "--snapshot", first, check=0)["snapshot_id"] == first
    assert "no snapshot 'deadbeef'" in env.drkit("restore-drill", "shop", "--snapshot", "deadbeef", check=2).stderr
    assert "expected latest, random or a snapshot id" in env.drkit("restore-drill", "shop", "--snapshot", "lastest",
                                                                    check=2).stderr


def test_random_picks_among_the_policy_snapshots(env, source):
    ids = {backed_up(env, source)["snapshot_id"]}
    for i in range(2):
        (source / f"extra{i}").write_text(str(i))
        ids.add(json.loads(env.drkit("backup", "shop", "--json", check=0).stdout)["runs"][0]["record"]["snapshot_id"])
    newest = json.loads(env.restic("shop", "snapshots", "--json", "--latest", "1").stdout)[0]["id"]
    picked = set()
    for _ in range(12):  # P(only the newest in 12 draws) = (1/3)^12
        record = drill(env, "shop", "--snapshot", "random", check=0)
        assert record["snapshot_id"] in ids and record["measured"]["random_among"] == 3
        picked.add(record["snapshot_id"])
        if picked - {newest}:
            break
    assert picked - {newest}


def test_latest_follows_the_repository_even_when_the_catalog_is_stale(env, source):
    backed_up(env, source)
    (source / "new.txt").write_text("new")
    newest = json.loads(env.drkit("backup", "shop", "--json", check=0).stdout)["runs"][0]["record"]["snapshot_id"]
    db = sqlite3.connect(env.state / "catalog.sqlite")
    db.execute("delete from snapshots where id = ?", (newest,))
    db.commit()
    db.close()
    record = drill(env, "shop", check=0)
    assert record["snapshot_id"] == newest and record["measured"]["catalog_was_stale"] is True


def test_no_snapshot_yet_is_an_error(env, source):
    env.write_policy("shop", [source], drill={"sandbox": str(drills_dir(env))})
    env.drkit("repo", "init", "shop", check=0)
    proc = env.drkit("restore-drill", "shop", check=1)
    assert "no drkit snapshot to drill yet" in proc.stdout + proc.stderr


def test_sample_mode_hashes_a_recorded_sample(env, source):
    backed_up(env, source, drill={"sandbox": str(drills_dir(env)), "verify": "sample:25%"})
    record = drill(env, "shop", check=0)
    m = record["measured"]
    assert m["verify"] == "sample:25%" and isinstance(m["sample_seed"], int)
    assert m["restic_verify"] is True  # restic's read-back covers the files outside the sample
    assert m["files_hashed"] == m["sample_size"] == math.ceil(m["hash_candidates"] * 0.25)
    assert 0 < m["files_hashed"] < m["hash_candidates"]


def test_edited_backup_evidence_makes_the_drill_fail(env, source):
    backed_up(env, source)
    db = sqlite3.connect(env.state / "catalog.sqlite")
    digest, text = db.execute("select digest, record from evidence where kind = 'backup'").fetchone()
    edited = re.sub(r'"manifest_sha256":"[0-9a-f]+"', '"manifest_sha256":"' + "0" * 64 + '"', text)
    db.execute("update evidence set record = ? where digest = ?", (edited, digest))
    db.commit()
    db.close()
    record = drill(env, "shop", check=4)
    assert "does not verify" in record["errors"][0]


def test_sigterm_records_an_interrupted_drill_and_removes_the_sandbox(env, source, tmp_path):
    marker = tmp_path / "check-started"
    backed_up(env, source, drill={"sandbox": str(drills_dir(env)),
                                  "checks": [{"command": ["sh", "-c", f"touch {marker}; sleep 60"]}]})
    proc = subprocess.Popen([sys.executable, "-m", "drkit", "restore-drill", "shop"], env=env.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "Traceback" not in stderr, stderr
    assert not any(drills_dir(env).iterdir())
    db = sqlite3.connect(env.state / "catalog.sqlite")
    (text,) = db.execute("select record from evidence where kind = 'drill'").fetchone()
    record = json.loads(text)
    assert record["result"] == "interrupted" and "SIGTERM" in record["errors"][0]
    assert subprocess.run(["pgrep", "-f", f"touch {marker}"], capture_output=True).returncode == 1  # check killed


def test_a_file_written_during_the_backup_counts_as_changed_not_failed(env, source):
    busy = source / "busy.log"
    busy.write_text("start\n")
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "while True:\n"
        "    with open(sys.argv[1], 'a') as f: f.write(str(time.time_ns()) + '\\n')\n"
        "    time.sleep(0.005)\n"), str(busy)])
    try:
        backed_up(env, source)  # manifest hashing and restic's read are ~1 s apart: busy.log moved on
    finally:
        writer.kill()
        writer.wait()
    record = drill(env, "shop", check=0)
    m = record["measured"]
    assert m["changed_during_backup"] == 1 and m["changed_during_backup_files"] == [str(busy)]
    assert m["files_hashed"] == m["files_restored"] - 2  # all but busy.log and the manifest
    assert "1 file changed during backup" in env.drkit("restore-drill", "shop", check=0).stdout
