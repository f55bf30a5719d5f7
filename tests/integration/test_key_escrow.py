"""Key escrow end to end (issue 12, point 4; docs/security.md "Key escrow"): with the local password
file gone, the bucket plus the recovery identity give it back — through `drkit keys recover` and,
independently, through the `age` CLI alone — and a drill then passes."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

import pytest
from factories import PASSWORD, Env, installed


def _age_keypair(tmp_path: Path, name: str = "recovery") -> tuple[Path, str]:
    """A recovery identity file as age-keygen writes it, and its public key (pyrage makes it)."""
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    path = tmp_path / f"{name}.key"
    path.write_text(f"# created for a test\n# public key: {identity.to_public()}\n{identity}\n")
    path.chmod(0o600)
    return path, str(identity.to_public())


def _escrow_object(env: Env, seaweedfs, name: str) -> bytes:
    return seaweedfs.client().get_object(Bucket=env.bucket, Key=f"drkit-escrow/{name}/primary.age")["Body"].read()


def test_escrow_then_recover_from_the_bucket_alone_and_drill(env: Env, source: Path, seaweedfs, tmp_path: Path):
    env.write_policy("esc", [source])
    env.drkit("repo", "init", "esc", check=0)
    env.drkit("backup", "esc", check=0)
    identity, public = _age_keypair(tmp_path)
    _, other_public = _age_keypair(tmp_path, "second")
    warned = env.drkit("status", check=0)
    assert "warning: esc: no key escrow for repository primary" in warned.stderr
    assert json.loads(env.drkit("status", "--json", check=0).stdout)["policies"][0]["key_escrow_missing"] == ["primary"]
    assert "WARN  key escrow     no escrowed password at" in env.drkit("doctor", "esc", check=0).stdout

    escrowed = env.drkit("keys", "escrow", "esc", "--recipient", public, "--recipient", other_public, check=0)
    assert f"s3://{env.bucket}/drkit-escrow/esc/primary.age" in escrowed.stdout
    assert PASSWORD not in escrowed.stdout + escrowed.stderr
    assert PASSWORD.encode() not in _escrow_object(env, seaweedfs, "esc")  # sealed, not a copy

    assert "key escrow" not in env.drkit("status", check=0).stderr
    assert "OK    key escrow     password escrowed at" in env.drkit("doctor", "esc", check=0).stdout

    env.password_file.unlink()
    lost = env.drkit("restore-drill", "esc", check=1)  # the host lost its password: nothing restores
    assert "drkit keys recover esc --identity FILE" in lost.stderr  # the policy named, not a placeholder

    recovered = env.drkit("keys", "recover", "esc", "--identity", str(identity), check=0)
    assert str(env.password_file) in recovered.stdout
    assert env.password_file.read_text() == PASSWORD + "\n"
    assert stat.S_IMODE(env.password_file.stat().st_mode) == 0o600
    drill = env.drkit("restore-drill", "esc", check=0)
    assert "PASS" in drill.stdout

    again = env.drkit("keys", "recover", "esc", "--identity", str(identity), check=0)
    assert "already holds" in again.stdout

    shutil.rmtree(env.state)  # a new host: the catalog rebuilt from the bucket knows the escrow too
    env.drkit("catalog", "rebuild", check=0)
    assert "key escrow" not in env.drkit("status", check=0).stderr


def test_the_age_cli_alone_opens_the_escrow(env: Env, source: Path, seaweedfs, tmp_path: Path):
    age = installed("age", "age")
    if age is None:
        pytest.skip("age is not installed (scripts/test installs it)")
    env.write_policy("agecli", [source])
    env.drkit("repo", "init", "agecli", check=0)
    identity, public = _age_keypair(tmp_path)
    env.drkit("keys", "escrow", "agecli", "--recipient", public, check=0)

    blob = tmp_path / "primary.age"
    blob.write_bytes(_escrow_object(env, seaweedfs, "agecli"))
    opened = subprocess.run([age, "-d", "-i", str(identity), str(blob)], capture_output=True, timeout=60)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == (PASSWORD + "\n").encode()

    # restic itself accepts what age gave, with no drkit in between
    out = tmp_path / "from-age.pass"
    out.write_bytes(opened.stdout)
    listing = subprocess.run(["restic", "cat", "config"], capture_output=True, text=True, timeout=120,
                             env=env.env(RESTIC_PASSWORD_FILE=str(out),
                                         RESTIC_REPOSITORY=f"s3:{env.endpoint}/{env.bucket}/agecli"))
    assert listing.returncode == 0, listing.stderr


def test_password_command_is_escrowed_as_it_prints(env: Env, tmp_path: Path, seaweedfs):
    script = tmp_path / "show-password"
    script.write_text(f"#!/bin/sh\ncat {env.password_file}\n")
    script.chmod(0o700)
    env.write_policy("cmd", [tmp_path], repository={"url": f"s3:{env.endpoint}/{env.bucket}/cmd",
                                            "password_command": [str(script)]})
    identity, public = _age_keypair(tmp_path)
    env.drkit("keys", "escrow", "cmd", "--recipient", public, check=0)
    refused = env.drkit("keys", "recover", "cmd", "--identity", str(identity), check=2)
    assert "--to PATH" in refused.stderr
    target = tmp_path / "keys" / "cmd.pass"
    env.drkit("keys", "recover", "cmd", "--identity", str(identity), "--to", str(target), check=0)
    assert target.read_text() == PASSWORD + "\n"


def test_recover_refuses_a_different_file_a_wrong_identity_and_a_missing_escrow(env: Env, tmp_path: Path, seaweedfs):
    env.write_policy("refuse", [tmp_path])
    identity, public = _age_keypair(tmp_path)
    stranger, _ = _age_keypair(tmp_path, "stranger")

    missing = env.drkit("keys", "recover", "refuse", "--identity", str(identity), check=2)
    assert "no escrowed password" in missing.stderr and "drkit keys escrow refuse" in missing.stderr

    env.drkit("keys", "escrow", "refuse", "--recipient", public, check=0)
    wrong = env.drkit("keys", "recover", "refuse", "--identity", str(stranger), check=4)
    assert "does not open" in wrong.stderr

    env.password_file.write_text("a newer password\n")
    kept = env.drkit("keys", "recover", "refuse", "--identity", str(identity), check=2)
    assert "--force" in kept.stderr and env.password_file.read_text() == "a newer password\n"
    env.drkit("keys", "recover", "refuse", "--identity", str(identity), "--force", check=0)
    assert env.password_file.read_text() == PASSWORD + "\n"

    bad = env.drkit("keys", "escrow", "refuse", "--recipient", "age1notakey", check=2)
    assert bad.stderr.count("\n") == 1 and "--recipient" in bad.stderr


def test_each_repository_keeps_its_own_password_in_its_own_bucket(env: Env, tmp_path: Path, seaweedfs, moto_server):
    """A policy with a copy on a second S3 server (moto): each bucket holds only its repository's
    password, so either bucket alone recovers its repository."""
    copy_bucket = f"copy-{uuid.uuid4().hex[:8]}"
    moto_server.client().create_bucket(Bucket=copy_bucket)
    copy_password = tmp_path / "copy.pass"
    copy_password.write_text("the copy's own password\n")
    env.write_policy("two", [tmp_path], repository=None, repositories=[
        {"name": "primary", "url": f"s3:{env.endpoint}/{env.bucket}/two", "password_file": str(env.password_file)},
        {"name": "offsite", "url": f"s3:{moto_server.endpoint}/{copy_bucket}/two", "password_file": str(copy_password)}])
    identity, public = _age_keypair(tmp_path)
    done = env.drkit("keys", "escrow", "two", "--recipient", public, check=0)
    assert done.stdout.count("escrowed the password") == 2
    copy_keys = [o["Key"] for o in moto_server.client().list_objects_v2(Bucket=copy_bucket)["Contents"]]
    assert copy_keys == ["drkit-escrow/two/offsite.age"]
    assert _escrow_object(env, seaweedfs, "two")  # primary.age in the primary's bucket
    target = tmp_path / "recovered-copy.pass"
    env.drkit("keys", "recover", "two", "--identity", str(identity), "--repository", "offsite", "--to", str(target),
              check=0)
    assert target.read_text() == "the copy's own password\n"


def test_a_password_that_does_not_open_the_repository_is_never_escrowed(env: Env, source: Path, seaweedfs,
                                                                         tmp_path: Path):
    """A wrong password file (a botched rotation) must not replace the good escrow: the bucket's
    blob would then recover a password that opens nothing."""
    env.write_policy("rot", [source])
    env.drkit("repo", "init", "rot", check=0)
    identity, public = _age_keypair(tmp_path)
    env.drkit("keys", "escrow", "rot", "--recipient", public, check=0)
    good = _escrow_object(env, seaweedfs, "rot")
    env.password_file.write_text("not the repository password\n")
    refused = env.drkit("keys", "escrow", "rot", "--recipient", public, check=2)
    assert refused.stdout == "" and refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith(f"drkit: error: repository primary: the password from password_file "
                                     f"{env.password_file} does not open ")
    assert "not the repository password" not in refused.stderr
    assert _escrow_object(env, seaweedfs, "rot") == good
