"""The rotations docs/security.md prescribes, run as written: the repository password with
`restic key add/remove` (then re-escrow and drill), and the evidence signing key."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

from factories import Env


def test_repository_password_rotation_as_documented(env: Env, source: Path, tmp_path: Path):
    import pyrage

    env.write_policy("rot", [source])
    env.drkit("repo", "init", "rot", check=0)
    env.drkit("backup", "rot", check=0)
    old = json.loads(env.restic("rot", "key", "list", "--json").stdout)
    [old_id] = [k["id"] for k in old if k["current"]]
    new_file = tmp_path / "rot.pass.new"
    new_file.write_text(secrets.token_urlsafe(32) + "\n")
    new_file.chmod(0o600)
    env.restic("rot", "key", "add", "--new-password-file", str(new_file))
    new_env = env.env(RESTIC_PASSWORD_FILE=str(new_file), RESTIC_REPOSITORY=f"s3:{env.endpoint}/{env.bucket}/rot")
    removed = subprocess.run(["restic", "key", "remove", old_id], capture_output=True, text=True, env=new_env,
                             timeout=120)
    assert removed.returncode == 0, removed.stderr
    new_file.replace(env.password_file)
    assert "OK    repository" in env.drkit("doctor", "rot", check=0).stdout
    identity = pyrage.x25519.Identity.generate()
    (tmp_path / "recovery.key").write_text(f"{identity}\n")
    env.drkit("keys", "escrow", "rot", "--recipient", str(identity.to_public()), check=0)
    assert "PASS" in env.drkit("restore-drill", "rot", check=0).stdout
    rotated = env.password_file.read_text()
    env.password_file.unlink()
    env.drkit("keys", "recover", "rot", "--identity", str(tmp_path / "recovery.key"), check=0)
    assert env.password_file.read_text() == rotated  # the escrow holds the new password


def test_evidence_key_rotation_as_documented(env: Env, source: Path, tmp_path: Path, seaweedfs):
    env.write_policy("sig", [source])
    env.drkit("repo", "init", "sig", check=0)
    env.drkit("backup", "sig", check=0)
    env.drkit("catalog", "rebuild", "sig", check=0)
    key = env.state / "keys" / "evidence-ed25519.pem"
    key.replace(tmp_path / "retired-evidence-key.pem")
    env.drkit("backup", "sig", check=0)
    env.drkit("evidence", "verify", check=0)
    remote = json.loads(env.drkit("evidence", "verify", "--remote", "--json", check=0).stdout)
    assert remote["ok"] and remote["records"] == 2  # one backup per key
    listed = seaweedfs.client().list_objects_v2(Bucket=env.bucket, Prefix="drkit-evidence/keys/")
    assert len(listed["Contents"]) == 2  # the retired key's public half stays: its records still verify
