"""`drkit repo check` against real restic and S3: the rotation of read-data subsets, and a pack damaged
in the bucket (overwritten with boto3) found with exit 4."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from factories import Env

from drkit.evidence.records import Record

pytestmark = pytest.mark.slow


@pytest.fixture
def source(tmp_path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    for i in range(4):
        (root / f"blob{i}").write_bytes(os.urandom(1 << 20))
    return root


def test_checks_rotate_through_the_read_data_subsets_and_record_evidence(env: Env, source: Path) -> None:
    env.write_policy("site", [source])
    env.drkit("repo", "init", "site", check=0)
    env.drkit("backup", "site", check=0)
    first = json.loads(env.drkit("repo", "check", "site", "--json", check=0).stdout)
    second = json.loads(env.drkit("repo", "check", "site", "--json", check=0).stdout)
    assert (first["detail"]["read_data_subset"], second["detail"]["read_data_subset"]) == ("1/12", "2/12")
    assert first["record"]["kind"] == "check" and first["record"]["result"] == "pass"
    assert first["record"]["measured"] == {"read_data_subset": "1/12", "subset_n": 1, "subset_m": 12}
    assert second["record"]["prev"] == Record.model_validate(first["record"]).digest()  # evidence chain
    text = env.drkit("repo", "check", "site", check=0).stdout
    assert text.strip() == "OK site: repository check passed (read data subset 3/12)"


def test_a_damaged_data_pack_is_found_by_reading_it_and_exits_4(env: Env, source: Path, seaweedfs) -> None:
    env.write_policy("site", [source])
    env.drkit("repo", "init", "site", check=0)
    env.drkit("backup", "site", check=0)
    s3 = seaweedfs.client()
    packs = s3.list_objects_v2(Bucket=env.bucket, Prefix="site/data/")["Contents"]
    biggest = max(packs, key=lambda o: o["Size"])        # file contents, not the small tree pack
    body = s3.get_object(Bucket=env.bucket, Key=biggest["Key"])["Body"].read()
    s3.put_object(Bucket=env.bucket, Key=biggest["Key"], Body=body[:64] + bytes(len(body) - 64))

    # the structure alone looks fine: that is why data has to be read
    env.drkit("repo", "check", "site", "--read-data-subset", "none", check=0)

    damaged = env.drkit("repo", "check", "site", "--read-data-subset", "all", "--json", check=4)
    data = json.loads(damaged.stdout)
    pack_id = biggest["Key"].rsplit("/", 1)[1]
    assert data["status"] == "failed" and data["exit_code"] == 4 and data["detail"]["read_data_subset"] == "100%"
    assert any(pack_id in problem for problem in data["detail"]["problems"]), data["detail"]
    assert data["record"]["result"] == "fail" and any(pack_id in e for e in data["record"]["errors"])

    text = env.drkit("repo", "check", "site", "--read-data-subset", "all", check=4)
    assert text.stdout.startswith("FAILED site: repository check (read data subset 100%)")
    assert "drkit: error: site: repository damaged (read subset 100%): " in text.stderr


def test_a_missing_repository_is_an_error_not_damage(env: Env, source: Path) -> None:
    env.write_policy("nowhere", [source])
    proc = env.drkit("repo", "check", "nowhere", "--json", check=1)
    data = json.loads(proc.stdout)
    assert data["status"] == "failed" and data["record"]["result"] == "error"
    assert "no restic repository" in data["error"]


def test_bad_subset_is_a_usage_error(env: Env, source: Path) -> None:
    env.write_policy("site", [source])
    proc = env.drkit("repo", "check", "site", "--read-data-subset", "13/12", check=2)
    assert "use n/m" in proc.stderr


def test_a_repository_locked_by_a_live_restic_is_retried_until_the_lock_is_released(env: Env, source: Path) -> None:
    """restic 0.14 has no --retry-lock: drkit tries again after 2, 5 and 10 s. A plain `restic backup
    --stdin` holds a live lock while its stdin stays open; `restic check` needs an exclusive one."""
    env.write_policy("site", [source])
    env.drkit("repo", "init", "site", check=0)
    holder = subprocess.Popen(["restic", "backup", "--stdin", "--stdin-filename", "held.txt"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=env.env(RESTIC_PASSWORD_FILE=str(env.password_file),
                                          RESTIC_REPOSITORY=f"s3:{env.endpoint}/{env.bucket}/site"))
    try:
        deadline = time.monotonic() + 60
        while not env.restic("site", "list", "locks", "--no-lock").stdout.strip():
            assert holder.poll() is None and time.monotonic() < deadline, "restic should hold a lock"
            time.sleep(0.1)
        check = subprocess.Popen(env.drkit_argv("repo", "check", "site"), env=env.env(), text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        warning = check.stderr.readline()  # drkit says it waits (or, without a retry, its error)
    finally:
        holder.communicate(b"released\n", timeout=60)  # the backup ends and removes its lock
    stdout, stderr = check.communicate(timeout=120)
    assert "repository is locked by another restic process" in warning and "trying again in 2s" in warning, warning
    assert check.returncode == 0, warning + stderr
    assert stdout.startswith("OK site: repository check passed")
    assert env.restic("site", "list", "locks", "--no-lock").stdout.strip() == ""
