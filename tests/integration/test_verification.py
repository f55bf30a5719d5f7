"""A drill never passes data it cannot vouch for (docs/drill.md, "Verification"): real restic, a
real SeaweedFS, the real CLI. Each test makes a snapshot whose restored content is wrong in a way
restic's own `restore --verify` cannot see (restic faithfully restores what it stored), and expects
FAIL with exit 4 from drkit's own checks."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from factories import Env

from drkit.core.policy import load_policies
from drkit.engines.manifest import MANIFEST_NAME, Entry, Manifest
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record

pytestmark = pytest.mark.slow


def backed_up(env: Env, source: Path) -> dict:
    """Policy `shop` over `source` with one drkit backup; its signed backup record."""
    env.write_policy("shop", [source])
    env.drkit("repo", "init", "shop", check=0)
    return json.loads(env.drkit("backup", "shop", "--json", check=0).stdout)["runs"][0]["record"]


def rewrite_keeping_size_and_mtime(path: Path) -> bytes:
    """New content of the same size, mtime put back: to anything comparing size and mtime, the
    file looks unchanged (only its ctime, which no one can set, moved)."""
    before = path.stat()
    data = bytes(b ^ 0xFF for b in path.read_bytes())
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    return data


def stored_bytes(env: Env, snapshot_id: str, path: Path) -> bytes:
    """The file as restic stored it in the snapshot (`restic dump`, bytes)."""
    environ = env.env(RESTIC_PASSWORD_FILE=str(env.password_file),
                      RESTIC_REPOSITORY=f"s3:{env.endpoint}/{env.bucket}/shop")
    return subprocess.run(["restic", "dump", snapshot_id, str(path)], capture_output=True, env=environ,
                          check=True, timeout=120).stdout


def drill(env: Env, *args: str, check: int) -> dict:
    return json.loads(env.drkit("restore-drill", "shop", *args, "--json", check=check).stdout)


def latest_snapshot(env: Env) -> dict:
    return json.loads(env.restic("shop", "snapshots", "--json", "--latest", "1").stdout)[-1]


def test_restored_content_unlike_the_manifest_fails_the_drill_with_4(env: Env, source: Path) -> None:
    """drkit's own backup, made while its file-hash cache lies: the cache entry of one file claims
    the file is unchanged (its ctime updated to the file's new one), so the manifest carries the old
    hash, while restic, which compares ctime itself, stores the new content. The snapshot and its
    signed record are genuine, restic's --verify passes, and only drkit's hash comparison can tell
    that the restored file is not what the manifest promises."""
    backed_up(env, source)
    victim = source / "nested" / "deeper" / "file000.dat"
    old_hash = hashlib.sha256(victim.read_bytes()).hexdigest()
    new = rewrite_keeping_size_and_mtime(victim)
    db = sqlite3.connect(env.state / "catalog.sqlite")
    with db:
        changed = db.execute("update file_hashes set ctime_ns = ? where policy = 'shop' and path = ?",
                             (victim.stat().st_ctime_ns, str(victim))).rowcount
    db.close()
    assert changed == 1
    second = json.loads(env.drkit("backup", "shop", "--json", check=0).stdout)["runs"][0]["record"]
    # the setup holds: the snapshot has the new bytes, its manifest the old hash
    assert stored_bytes(env, second["snapshot_id"], victim) == new
    manifest = Manifest.from_json((env.state / "staging" / "shop" / MANIFEST_NAME).read_bytes())
    assert manifest.files[str(victim)].sha256 == old_hash

    result = drill(env, check=4)
    record = result["record"]
    assert result["status"] == "failed" and record["result"] == "fail"
    assert record["snapshot_id"] == second["snapshot_id"]
    assert record["measured"]["manifest_authenticated"] is True  # the manifest is drkit's own, signed
    assert record["errors"][0].startswith("1 restored item does not match the snapshot: "
                                          f"{victim}: content differs from the backup manifest")
    assert not any((env.root / "drills").iterdir())  # a wrong tree is never left behind
    text = env.drkit("restore-drill", "shop", check=4)
    [verdict] = [ln for ln in text.stdout.splitlines() if ln.startswith(("PASS", "BREACH", "FAIL", "ERROR"))]
    assert verdict.startswith("FAIL shop:") and f"{victim}: content differs from the backup manifest" in verdict


def test_a_manifest_unlike_the_signed_one_fails_the_drill_with_4(env: Env, source: Path) -> None:
    """The manifest inside a snapshot must be the one drkit hashed and signed. The snapshot here is
    made with plain restic from the same paths after two edits: one file's content (same size,
    mtime put back) and the staging dir's manifest, rewritten to vouch for the new content. Its
    backup record is the first backup's measurement re-issued for this snapshot and signed with the
    host's key, as if the manifest had been replaced between drkit hashing it and restic reading
    it. Tree and hashes agree with that manifest: only the comparison with the signed
    `manifest_sha256` can fail the drill, and without it the drill would PASS."""
    first = backed_up(env, source)
    staging = env.state / "staging" / "shop"
    victim = source / "README"
    new = rewrite_keeping_size_and_mtime(victim)
    manifest_file = staging / MANIFEST_NAME
    manifest = Manifest.from_json(manifest_file.read_bytes())
    entry = manifest.files[str(victim)]
    manifest.files[str(victim)] = Entry(entry.size, entry.mtime_ns, hashlib.sha256(new).hexdigest())
    manifest_file.write_bytes(manifest.to_json())
    env.restic("shop", "backup", "--tag", "drkit", "--tag", "drkit-policy=shop", str(source), str(staging))
    forged = latest_snapshot(env)

    ws = Workspace(env.state)
    [loaded] = load_policies([env.policies])
    fields = {k: v for k, v in first.items() if k not in ("prev", "key_id", "signature")}
    ws.record(loaded.policy, Record.model_validate({**fields, "snapshot_id": forged["id"],
                                                    "snapshot_time": forged["time"]}), upload=False)
    ws.close()
    assert first["measured"]["manifest_sha256"] != hashlib.sha256(manifest_file.read_bytes()).hexdigest()

    result = drill(env, "--snapshot", forged["id"], check=4)
    record = result["record"]
    assert record["result"] == "fail" and record["snapshot_id"] == forged["id"]
    assert record["errors"][0].startswith("the manifest in the snapshot does not match the signed backup evidence")
    assert record["measured"]["manifest_sha256"] == hashlib.sha256(manifest_file.read_bytes()).hexdigest()
    assert not any((env.root / "drills").iterdir())
    # the untouched first snapshot still passes: the failure is about the forged one only
    assert drill(env, "--snapshot", first["snapshot_id"], check=0)["record"]["result"] == "pass"
