"""drkit restore end to end: real restic, a real SeaweedFS over HTTP, the real CLI as a process."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from factories import Env, make_env, make_tree, same_tree

pytestmark = pytest.mark.slow


def backed_up(env, source: Path, name: str = "shop", **sections) -> dict:
    """A policy with one backup; returns the backup's evidence record."""
    env.write_policy(name, [source], **sections)
    env.drkit("repo", "init", name, check=0)
    return backup(env, name)


def backup(env, name: str = "shop") -> dict:
    return json.loads(env.drkit("backup", name, "--json", check=0).stdout)["runs"][0]["record"]


def restore(env, *args: str, check: int) -> dict:
    return json.loads(env.drkit("restore", *args, "--json", check=check).stdout)


def below(target: Path, original: Path) -> Path:
    """Where a restore into `target` puts `original` (its absolute path below the target)."""
    return target / str(original).lstrip("/")


def evidence_count(env) -> int:
    return int(env.drkit("evidence", "verify", check=0).stdout.split()[0])


@dataclass(frozen=True)
class Shop:
    """One policy backed up once, shared by the tests that only restore from it."""

    env: Env
    source: Path
    backup: dict


@pytest.fixture(scope="module")
def shop(tmp_path_factory, seaweedfs) -> Shop:
    root = tmp_path_factory.mktemp("shop")
    bucket = f"t-{uuid.uuid4().hex[:8]}"
    seaweedfs.client().create_bucket(Bucket=bucket)
    env = make_env(root, seaweedfs, bucket)
    source = make_tree(root / "src")
    return Shop(env, source, backed_up(env, source, post_restore=["systemctl start shop"]))


def test_whole_snapshot_comes_back_byte_identical_verified_and_recorded(shop):
    env, source, backup_record = shop.env, shop.source, shop.backup
    records = evidence_count(env)
    target = env.root / "restored"
    proc = env.drkit("restore", "shop", "--target", str(target), check=0)
    assert same_tree(source, below(target, source))
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"OK shop: restored snapshot {backup_record['snapshot_id'][:8]} (")
    assert lines[0].endswith("every file verified against the backup manifest")
    assert f"  path {source} -> {below(target, source)}" in lines
    assert lines[-1] == "  2. systemctl start shop" and "rsync -a" in lines[-2]
    assert (target.stat().st_mode & 0o777) == 0o700

    # the evidence: kind restore, signed, chained, uploaded beside the repository
    target2 = env.root / "again"
    doc = restore(env, "shop", "--target", str(target2), check=0)
    record, detail = doc["record"], doc["detail"]
    assert doc["schema"] == "drkit.run/1" and doc["job"] == "restore" and doc["status"] == "ok"
    assert record["kind"] == "restore" and record["result"] == "pass" and record["signature"] and record["prev"]
    assert record["snapshot_id"] == backup_record["snapshot_id"]
    source_files = [p for p in source.rglob("*") if p.is_file() and not p.is_symlink()]
    m = record["measured"]
    assert m["verified"] is True and m["files_hashed"] == len(source_files) and m["manifest_authenticated"] is True
    assert m["target"] == str(target2) and m["in_place"] is False and m["include"] == [] and m["user"]
    assert record["files"] == len(source_files) + 1  # + the manifest
    assert detail["verified"] is True and detail["next_steps"] == ["systemctl start shop"]
    assert detail["landed"] == [{"target": f"path {source}", "path": str(below(target2, source)), "restored": "whole",
                                 "put_back": f'compare, then copy back: `rsync -a "{below(target2, source)}/" '
                                             f'"{source}/"` (add `--delete` only once you are sure)'}]
    assert env.drkit("evidence", "verify", check=0).stdout.strip() == \
        f"{records + 2} records, 1 policy: signatures ok, chains intact"
    client = env_client(env)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=env.bucket, Prefix="drkit-evidence/shop/")["Contents"]]
    assert sum("-restore-" in k for k in keys) >= 2 and record["signature"] in str(
        [client.get_object(Bucket=env.bucket, Key=k)["Body"].read() for k in keys if "-restore-" in k])


def test_include_restores_only_the_chosen_paths_and_verifies_them(shop):
    env, source = shop.env, shop.source
    target = env.root / "part"
    doc = restore(env, "shop", "--target", str(target), "--include", str(source / "nested"),
                  "--include", str(source / "README"), check=0)
    restored = below(target, source)
    assert same_tree(source / "nested", restored / "nested")
    assert (restored / "README").read_bytes() == (source / "README").read_bytes()
    assert sorted(p.name for p in restored.iterdir()) == ["README", "nested"]
    m = doc["record"]["measured"]
    nested_files = [p for p in (source / "nested").rglob("*") if p.is_file()]
    assert m["verified"] is True and m["files_hashed"] == len(nested_files) + 1
    assert m["include"] == [str(source / "nested"), str(source / "README")]
    assert doc["detail"]["landed"][0]["restored"] == "part"


def test_refusals_write_nothing_and_record_nothing(shop):
    env, source = shop.env, shop.source
    before = evidence_count(env)
    full = env.root / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    cases = [
        (["--target", str(full)], f"drkit: error: target {full} is not empty (1 entry)"),
        (["--target", str(source / "inside")], f"drkit: error: target {source / 'inside'} lies inside the backup "
                                               f"source {source}"),
        (["--target", str(source)], f"drkit: error: target {source} is the backup source {source}"),
        (["--target", str(env.state)], f"drkit: error: target {env.state} is the drkit state dir"),
        (["--in-place"], "drkit: error: --in-place overwrites live data: confirm on a terminal, or pass --yes"),
        (["--target", str(env.root / "x"), "--include", str(source / "missing")],
         f"drkit: error: --include {source / 'missing'}: no such path in snapshot"),
        (["--target", str(env.root / "x"), "--snapshot", "before:2000-01-01"],
         "drkit: error: shop: no drkit snapshot taken before 2000-01-01 00:00:00 UTC"),
        (["--target", str(env.root / "x"), "--snapshot", "random"],
         "drkit: error: --snapshot: expected latest or a snapshot id (4 to 64 hex digits), or before:TIME"),
    ]
    for args, message in cases:
        proc = env.drkit("restore", "shop", *args, check=2)
        assert proc.stdout == "" and proc.stderr.startswith(message), (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert sorted(p.name for p in full.iterdir()) == ["keep.txt"] and not (env.root / "x").exists()
    assert not (source / "inside").exists()
    assert evidence_count(env) == before

    # --force writes into the non-empty directory and leaves what was there
    restore(env, "shop", "--target", str(full), "--force", check=0)
    assert (full / "keep.txt").read_text() == "mine" and same_tree(source, below(full, source))


def test_before_time_takes_the_newest_snapshot_older_than_it(env, source):
    first = backed_up(env, source)
    original = (source / "README").read_bytes()
    (source / "README").write_text("changed after the first backup\n")
    second = backup(env)
    doc = restore(env, "shop", "--target", str(env.root / "old"), "--snapshot", f"before:{second['snapshot_time']}",
                  check=0)
    assert doc["record"]["snapshot_id"] == first["snapshot_id"]
    assert doc["record"]["measured"]["before"].startswith(second["snapshot_time"][:19])
    assert below(env.root / "old", source / "README").read_bytes() == original
    latest = restore(env, "shop", "--target", str(env.root / "new"), check=0)
    assert latest["record"]["snapshot_id"] == second["snapshot_id"]


def test_in_place_puts_the_backed_up_files_back_over_the_live_ones(env, source):
    backed_up(env, source)
    wanted = (source / "nested" / "file001.dat").read_bytes()
    (source / "nested" / "file001.dat").write_bytes(b"ransomware was here")
    (source / "new-since-backup.txt").write_text("left alone")
    doc = restore(env, "shop", "--in-place", "--yes", check=0)
    assert (source / "nested" / "file001.dat").read_bytes() == wanted
    assert (source / "new-since-backup.txt").read_text() == "left alone"
    assert doc["detail"]["target"] == "/" and doc["record"]["measured"]["in_place"] is True
    assert doc["detail"]["landed"][0]["put_back"] == ""  # already where it belongs


def test_a_snapshot_without_manifest_is_restored_but_not_called_verified(env, source):
    env.write_policy("shop", [source])
    env.drkit("repo", "init", "shop", check=0)
    env.restic("shop", "backup", "--tag", "drkit-policy=shop", str(source))
    target = env.root / "plain"
    proc = env.drkit("restore", "shop", "--target", str(target), check=4)
    assert proc.stdout.startswith(f"FAIL shop: restored {len([p for p in source.rglob('*') if p.is_file()])} files "
                                  f"into {target}, but cannot verify them: the snapshot has no drkit manifest")
    assert "is NOT verified" in proc.stdout and proc.stderr == ""
    assert same_tree(source, below(target, source))  # the data is there for whoever needs it


def test_a_restore_that_cannot_open_the_repository_says_nothing_was_written(env, source):
    backed_up(env, source)
    env.password_file.write_text("not the repository password\n")
    target = env.root / "never"
    proc = env.drkit("restore", "shop", "--target", str(target), check=1)
    assert proc.stdout.startswith("FAILED shop: restore did not start after "), proc.stdout
    assert proc.stdout.rstrip().endswith(f"nothing was written into {target}") and "incomplete" not in proc.stdout
    assert "wrong repository password" in proc.stderr and not target.exists()


def env_client(env):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=env.endpoint, aws_access_key_id=env.s3_env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env.s3_env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))
