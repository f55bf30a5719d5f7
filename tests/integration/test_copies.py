"""Copies end to end (docs/repositories.md, "Copies"): the primary repository on a SeaweedFS of its
own, the copy on moto_server — two real S3 servers over HTTP — with real restic and the real CLI.
The primary's server is stopped, and the copy alone still drills and rebuilds the catalog."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from factories import make_env
from servers import SeaweedFS, ServerStartError

pytestmark = pytest.mark.slow


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[SeaweedFS]:
    """A SeaweedFS for this test alone: the test stops it (the shared one must stay up)."""
    server = SeaweedFS(tmp_path / "primary-s3")
    try:
        server.start()
    except ServerStartError as error:
        pytest.fail(str(error), pytrace=False)
    yield server
    server.close()


def evidence_kinds(server, bucket: str) -> list[str]:
    listing = server.client().list_objects_v2(Bucket=bucket, Prefix="drkit-evidence/shop/")
    return sorted(key["Key"].rsplit("-", 2)[-2] for key in listing.get("Contents", []))


@pytest.fixture
def site(tmp_path: Path, primary: SeaweedFS, moto_server, source: Path):
    """A policy whose first repository is on the primary SeaweedFS and whose copy is on moto,
    with a password of its own; both initialized and one backup made."""
    bucket, copy_bucket = f"p-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    primary.client().create_bucket(Bucket=bucket)
    moto_server.client().create_bucket(Bucket=copy_bucket)
    env = make_env(tmp_path / "site", primary, bucket)
    copy_password = env.root / "copy-password"
    copy_password.write_text("another password for the copy\n")
    copy_password.chmod(0o600)
    env.write_policy("shop", [source], repository=None, schedule={"backup": "every day at 01:00",
                                                                   "copy": "every day at 02:00"},
                     repositories=[{"name": "primary", "url": f"s3:{primary.endpoint}/{bucket}/shop",
                                    "password_file": str(env.password_file)},
                                   {"name": "offsite", "url": f"s3:{moto_server.endpoint}/{copy_bucket}/shop",
                                    "password_file": str(copy_password)}])
    init = env.drkit("repo", "init", "shop", check=0)
    assert "initialized as a copy of primary (same chunker parameters)" in init.stdout
    env.drkit("backup", "shop", check=0)
    return env, copy_bucket


def test_drill_from_the_copy_passes_with_the_primary_server_stopped(site, primary, moto_server, tmp_path, source):
    env, copy_bucket = site
    backup = json.loads(env.drkit("snapshots", "shop", "--json", check=0).stdout)["snapshots"][0]

    [run] = json.loads(env.drkit("copy", "shop", "--json", check=0).stdout)["runs"]
    assert run["job"] == "copy" and run["record"]["repository"] == "offsite" and run["record"]["result"] == "pass"
    assert run["detail"]["source"] == "primary" and run["detail"]["destination"] == "offsite"
    [copied] = run["record"]["measured"]["copied"]
    assert copied["source_id"] == backup["id"] and copied["copy_id"] == run["detail"]["copied"][0] != backup["id"]
    again = env.drkit("copy", "shop", check=0).stdout
    assert "copied 0 snapshots primary -> offsite, 1 already there" in again

    listing = json.loads(env.drkit("snapshots", "shop", "--repository", "offsite", "--json", check=0).stdout)
    assert [s["original"] for s in listing["snapshots"]] == [backup["id"]]
    assert evidence_kinds(moto_server, copy_bucket) == ["backup", "copy", "copy"]  # every bucket, every record

    primary.stop()
    drill = env.drkit("restore-drill", "shop", "--repository", "offsite", "--json", check=0)
    record = json.loads(drill.stdout)["record"]
    assert record["result"] == "pass" and record["repository"] == "offsite"
    assert record["measured"]["original_snapshot"] == backup["id"]
    assert record["measured"]["manifest_authenticated"] is True  # the backup's evidence vouches for the copy
    assert "upload to repository primary failed" in drill.stderr  # a warning, not a failure
    assert evidence_kinds(moto_server, copy_bucket) == ["backup", "copy", "copy", "drill"]
    restored = json.loads(env.drkit("restore", "shop", "--repository", "offsite", "--target", str(tmp_path / "back"),
                                    "--json", check=0).stdout)
    assert restored["detail"]["verified"] is True and restored["record"]["repository"] == "offsite"
    # browsing the copy, with the first repository's server down
    one = next(p for p in sorted(source.rglob("*")) if p.is_file())
    tree = json.loads(env.drkit("ls", "shop", "--repository", "offsite", "--json", check=0).stdout)
    assert tree["snapshot"]["id"] == copied["copy_id"] and str(one) in [e["path"] for e in tree["entries"]]
    assert env.drkit_bytes("dump", "shop", "latest", str(one), "--repository", "offsite").stdout == one.read_bytes()
    assert "no repository named 'nowhere'" in env.drkit("ls", "shop", "--repository", "nowhere", check=2).stderr
    # the id a person has from the first repository (runbook, `drkit snapshots`) names its copy there
    by_original = json.loads(env.drkit("ls", "shop", backup["id"][:8], "--repository", "offsite", "--json",
                                       check=0).stdout)
    assert by_original["snapshot"]["id"] == copied["copy_id"]
    assert by_original == json.loads(env.drkit("ls", "shop", copied["copy_id"][:8], "--repository", "offsite",
                                               "--json", check=0).stdout)
    absent = env.drkit("ls", "shop", "deadbeef", "--repository", "offsite", check=2).stderr
    assert "no snapshot 'deadbeef' in repository offsite of shop" in absent, absent

    # A new host with only the copy's bucket rebuilds the whole catalog.
    fresh = env.env(DRKIT_STATE_DIR=str(tmp_path / "new-host"))
    rebuilt = json.loads(env.drkit("catalog", "rebuild", "shop", "--repository", "offsite", "--json", env=fresh,
                                   check=0).stdout)["policies"][0]
    assert rebuilt["records_added"] == 5 and rebuilt["snapshots"] == 1 and rebuilt["problems"] == []
    assert env.drkit("evidence", "verify", env=fresh, check=0).stdout.startswith("5 records, 1 policy")

    # The report shows each repository's RPO: the copy's point counts from the copy run.
    report = json.loads(env.drkit("report", "--format", "json", env=fresh, check=0).stdout)["policies"][0]
    primary_rpo, offsite_rpo = report["repositories"]
    assert (primary_rpo["name"], primary_rpo["copy_of"], offsite_rpo["name"], offsite_rpo["copy_of"]) == (
        "primary", None, "offsite", "primary")
    assert offsite_rpo["last_copy_at"] > run["record"]["finished_at"]  # the second copy run, which found nothing new
    assert 0 < primary_rpo["rpo"]["current_exposure_s"] <= offsite_rpo["rpo"]["current_exposure_s"] < 3600
    table = env.drkit("report", env=fresh, check=0).stdout
    assert "RPO per repository" in table and "offsite" in table
    status = json.loads(env.drkit("status", "--json", env=fresh, check=0).stdout)["policies"][0]
    [copy] = status["copies"]
    assert copy["repository"] == "offsite" and copy["lagging"] is False and copy["exposure_s"] < 3600


def test_a_failed_copy_is_its_own_run_and_leaves_the_backup_alone(site, moto_server):
    env, copy_bucket = site
    moto_server.client().delete_object(Bucket=copy_bucket, Key="shop/config")  # the copy repository is broken
    failed = env.drkit("copy", "shop", "--to", "offsite", check=1)
    assert failed.stdout.startswith("FAILED shop: copy primary -> offsite did not complete")
    assert "no restic repository" in failed.stderr
    assert failed.stderr.count("drkit: error:") == 1 and "Traceback" not in failed.stderr
    status = json.loads(env.drkit("status", "--json", check=3).stdout)["policies"][0]
    assert status["last_run_result"] == "pass"  # the backup's result stands
    assert status["problems"] == ["COPY LAG offsite"] and status["copies"][0]["exposure_s"] is None
    wrong = env.drkit("copy", "shop", "--to", "primary", check=2)
    assert "--to primary is the repository backups go to" in wrong.stderr


def test_a_wrong_password_in_a_copy_names_the_repository_it_belongs_to(site):
    """restic copy prints the same "wrong password or no key found" for either repository: the error
    says which one, so the fix goes to the right password file."""
    env, _copy_bucket = site
    copy_password = env.root / "copy-password"
    good = copy_password.read_text()
    for wrong_file, name in ((copy_password, "offsite"), (env.password_file, "primary")):
        kept = wrong_file.read_text()
        wrong_file.write_text("not this repository's password\n")
        try:
            failed = env.drkit("copy", "shop", check=1)
        finally:
            wrong_file.write_text(kept)
        assert failed.stderr.startswith(f"drkit: error: copy snapshots: wrong repository password for repository "
                                        f"{name} ("), failed.stderr
        assert failed.stderr.count("\n") == 1 and "not this repository's password" not in failed.stderr
    assert copy_password.read_text() == good
    env.drkit("copy", "shop", check=0)


def test_a_copy_repository_shares_the_first_ones_chunker_parameters(tmp_path, source):
    """Deduplication holds in the copy only with the same chunker polynomial (restic init
    --copy-chunker-params); local repositories, so no server is needed."""
    passwords = {name: tmp_path / f"{name}.pass" for name in ("primary", "offsite")}
    for name, path in passwords.items():
        path.write_text(f"password of {name}\n")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "shop.yaml").write_text(yaml.safe_dump({
        "version": 1, "name": "shop", "objectives": {"rpo": "24h", "rto": "4h"}, "targets": [{"path": str(source)}],
        "repositories": [{"name": name, "url": f"local:{tmp_path / name}", "password_file": str(path)}
                         for name, path in passwords.items()]}))
    drkit = [sys.executable, "-m", "drkit", "--policies", str(tmp_path / "policies"), "--state-dir", str(tmp_path / "state")]
    subprocess.run([*drkit, "repo", "init", "shop"], check=True, capture_output=True, timeout=120)

    def polynomial(name: str) -> str:
        config = subprocess.run(["restic", "-r", str(tmp_path / name), "--password-file", str(passwords[name]), "cat",
                                 "config"], check=True, capture_output=True, text=True, timeout=60).stdout
        return json.loads(config)["chunker_polynomial"]

    assert polynomial("primary") == polynomial("offsite")


def test_evidence_verify_remote_checks_every_bucket_on_its_own(site, primary, moto_server, tmp_path):
    """Any one bucket alone must rebuild the catalog, so each must hold the whole chain: a record lost
    from the copy's bucket is a problem even though the primary's bucket still has it."""
    env, copy_bucket = site
    env.drkit("copy", "shop", check=0)
    both = env.drkit("evidence", "verify", "--remote", check=0).stdout
    assert both.startswith("2 records, 1 policy: signatures ok"), both  # the same two records in each bucket

    [lost] = [o["Key"] for o in moto_server.client().list_objects_v2(
        Bucket=copy_bucket, Prefix="drkit-evidence/shop/")["Contents"] if "-backup-" in o["Key"]]
    moto_server.client().delete_object(Bucket=copy_bucket, Key=lost)
    failed = env.drkit("evidence", "verify", "--remote", check=4)
    assert f"s3://{copy_bucket}/drkit-evidence/shop/: backup record finished" in failed.stderr
    assert "missing from the bucket" in failed.stderr and "Traceback" not in failed.stderr
    assert env.drkit("evidence", "verify", "--remote", "--repository", "primary", check=0).stdout.startswith("2 records")
    assert env.drkit("evidence", "verify", "--remote", "--repository", "offsite", check=4).stdout.startswith(
        "2 problems in 1 record")  # the missing record, and the gap it leaves in the chain
    unknown = env.drkit("evidence", "verify", "--remote", "--repository", "elsewhere", check=2).stderr
    assert "--repository elsewhere: no loaded policy has an S3 repository of that name" in unknown
    assert "--repository goes with --remote" in env.drkit("evidence", "verify", "--repository", "primary",
                                                             check=2).stderr
    # an auditor's machine remembers no upload: the buckets are compared with each other
    auditor = env.env(DRKIT_STATE_DIR=str(tmp_path / "auditor"))
    compared = env.drkit("evidence", "verify", "--remote", env=auditor, check=4)
    assert (f"s3://{copy_bucket}/drkit-evidence/shop/: backup record finished" in compared.stderr
            and "is in repository primary's bucket but missing from this one" in compared.stderr), compared.stderr


def test_a_copy_with_lock_days_locks_what_the_copy_wrote(env, source, moto_server):
    """`lock_days` on a copy repository protects the copy too: `drkit copy` sets its retention on
    every object it wrote, as a backup does on the first (docs/immutability.md), and `repo audit`
    of the copy shows it."""
    copy_bucket = f"l-{uuid.uuid4().hex[:8]}"  # repo init creates it, with Object Lock
    env.write_policy("shop", [source], repository=None, repositories=[
        {"name": "primary", "url": f"s3:{env.endpoint}/{env.bucket}/shop", "password_file": str(env.password_file)},
        {"name": "offsite", "url": f"s3:{moto_server.endpoint}/{copy_bucket}/shop",
         "password_file": str(env.password_file), "lock_days": 2, "lock_mode": "GOVERNANCE"}])
    env.drkit("repo", "init", "shop", check=0)
    env.drkit("backup", "shop", check=0)
    env.drkit("copy", "shop", check=0)
    client = moto_server.client()
    written = [o["Key"] for o in client.list_objects_v2(Bucket=copy_bucket, Prefix="shop/")["Contents"]
               if o["Key"].split("/")[1] in ("data", "index", "snapshots")]
    modes = {key: client.head_object(Bucket=copy_bucket, Key=key).get("ObjectLockMode") for key in written}
    assert written and set(modes.values()) == {"GOVERNANCE"}, modes
    audit = env.drkit("repo", "audit", "shop", "--repository", "offsite", check=0).stdout
    assert "OK          object_retention    required" in audit, audit


def test_repo_init_reports_the_repositories_it_made_when_a_copy_fails(env, source):
    """A copy whose server is down fails `repo init` (exit 1, one error), but the first repository,
    initialized before it, is still reported: a person must not think nothing happened."""
    env.write_policy("shop", [source], repository=None, repositories=[
        {"name": "primary", "url": f"s3:{env.endpoint}/{env.bucket}/shop", "password_file": str(env.password_file)},
        {"name": "offsite", "url": "s3:http://127.0.0.1:9/nowhere/shop", "password_file": str(env.password_file)}])
    init = env.drkit("repo", "init", "shop", check=1)
    assert f"repository s3:{env.endpoint}/{env.bucket}/shop: initialized" in init.stdout, init.stdout
    assert init.stderr.count("drkit: error:") == 1 and "127.0.0.1:9" in init.stderr, init.stderr
    failed = json.loads(env.drkit("repo", "init", "shop", "--json", check=1).stdout)
    assert failed["repo_created"] is False and failed["failed"][0]["repository"] == "offsite"


def copy_restic(env, moto_server, copy_bucket: str, *args: str) -> subprocess.CompletedProcess:
    """Plain restic against the copy repository (one set of S3 credentials serves both servers)."""
    run_env = env.env(RESTIC_PASSWORD_FILE=str(env.root / "copy-password"),
                      RESTIC_REPOSITORY=f"s3:{moto_server.endpoint}/{copy_bucket}/shop")
    return subprocess.run(["restic", *args], capture_output=True, text=True, env=run_env, check=True, timeout=300)


def with_retention(env, retention: dict, keep_clean: int = 0) -> None:
    path = env.policies / "shop.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "retention": retention,
                                    "guard": {"keep_clean": keep_clean}}, sort_keys=False))


def test_forget_thins_out_every_repository_each_in_a_run_of_its_own(site, moto_server):
    """A copy must not grow forever: forget applies the retention to the copy too, as its own run with
    its own evidence naming the repository; `--repository` limits it to one."""
    env, copy_bucket = site
    with_retention(env, {"keep_last": 1}, keep_clean=3)
    env.drkit("backup", "shop", check=0)
    env.drkit("copy", "shop", check=0)
    copied = {s["id"] for s in json.loads(copy_restic(env, moto_server, copy_bucket, "snapshots", "--json").stdout)}
    assert len(copied) == 2
    # guard.keep_clean protects the copies of the clean backups (by `original`), by the copy's own ids
    dry = json.loads(env.drkit("forget", "shop", "--repository", "offsite", "--dry-run", "--json", check=0).stdout)
    assert set(dry["detail"]["protected"]) == set(dry["detail"]["kept"]) == copied and dry["detail"]["removed"] == []
    with_retention(env, {"keep_last": 1})

    only = json.loads(env.drkit("forget", "shop", "--repository", "offsite", "--json", check=0).stdout)
    assert only["schema"] == "drkit.run/1" and only["record"]["repository"] == "offsite"
    assert only["detail"]["repository"] == "offsite" and len(only["detail"]["removed"]) == 1
    assert len(json.loads(copy_restic(env, moto_server, copy_bucket, "snapshots", "--json").stdout)) == 1
    assert len(json.loads(env.restic("shop", "snapshots", "--json").stdout)) == 2  # the first is untouched

    both = json.loads(env.drkit("forget", "shop", "--json", check=0).stdout)
    assert both["schema"] == "drkit.runs/1"
    assert [(r["job"], r["record"]["repository"], r["status"]) for r in both["runs"]] == [
        ("forget", "primary", "ok"), ("forget", "offsite", "ok")]
    assert [len(r["detail"]["kept"]) for r in both["runs"]] == [1, 1]
    [kept] = json.loads(env.restic("shop", "snapshots", "--json").stdout)
    listing = json.loads(env.drkit("snapshots", "shop", "--repository", "offsite", "--json", check=0).stdout)
    assert [s["original"] for s in listing["snapshots"]] == [kept["id"]]  # the copy keeps the same backup
    assert evidence_kinds(moto_server, copy_bucket).count("forget") == 3  # one record per run, every bucket
    text = env.drkit("forget", "shop", check=0).stdout
    assert "OK shop primary: kept 1, removed 0 snapshots; pruned" in text
    assert "OK shop offsite: kept 1, removed 0 snapshots; pruned" in text


def test_a_copy_lagging_beyond_the_rpo_is_refused_while_the_first_is_thinned_out(site, moto_server, source):
    """The copy's own newest snapshot decides: thinning out a copy that stopped receiving snapshots
    would age it into nothing. The first repository's forget still runs; the exit code is the worst."""
    env, copy_bucket = site
    with_retention(env, {"keep_last": 1})
    old = (datetime.now() - timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")  # restic --time is local time
    env.restic("shop", "backup", "--time", old, "--tag", "drkit", "--tag", "drkit-policy=shop", str(source))
    env.drkit("copy", "shop", check=0)
    copied = json.loads(copy_restic(env, moto_server, copy_bucket, "snapshots", "--json").stdout)
    newest = max(copied, key=lambda s: s["time"])
    copy_restic(env, moto_server, copy_bucket, "forget", newest["id"])  # the copy now holds only the 3-day-old one

    out = env.drkit("forget", "shop", check=3)
    assert "OK shop primary: kept 1, removed 1 snapshot; pruned" in out.stdout
    assert "REFUSED shop offsite: forget did not run" in out.stdout
    assert ("shop: forget refused on repository offsite: no snapshot is younger than the RPO 1d (newest is 3d"
            in out.stderr), out.stderr
    assert "bring the copy up to date first (drkit copy shop)" in out.stderr
    assert len(json.loads(copy_restic(env, moto_server, copy_bucket, "snapshots", "--json").stdout)) == 1
    assert len(json.loads(env.restic("shop", "snapshots", "--json").stdout)) == 1
