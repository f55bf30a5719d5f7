"""Local exposure with real restic and SeaweedFS (docs/reliability.md, "Local exposure"): no
credential in `-vv` output, and a state directory readable by its owner only."""

from __future__ import annotations

import os
import stat

import pytest
from factories import PASSWORD

pytestmark = pytest.mark.slow


def test_vv_output_holds_no_credentials(env, source):
    env.write_policy("site", [source])
    env.drkit("repo", "init", "site", check=0)
    output = ""
    for args, codes in ((("backup", "site"), (0,)), (("restore-drill", "site"), (0,)),
                        (("report", "--refresh"), (0, 3))):
        proc = env.drkit("-vv", *args)
        assert proc.returncode in codes, f"{args}: exit {proc.returncode}\n{proc.stderr}"
        output += proc.stdout + proc.stderr
    assert "PASS site" in output  # the drill really ran, against the bucket
    secrets = {"S3 access key": env.s3_env["AWS_ACCESS_KEY_ID"], "S3 secret key": env.s3_env["AWS_SECRET_ACCESS_KEY"],
               "repository password": PASSWORD}
    for what, value in secrets.items():
        assert value not in output, f"{what} in -vv output"
    for field in ("Authorization", "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token"):
        assert field.lower() not in output.lower(), f"{field} in -vv output"


def test_the_state_directory_is_private_after_backup_and_drill(env, source):
    env.write_policy("site", [source])
    env.drkit("repo", "init", "site", check=0)
    env.drkit("backup", "site", check=0)
    env.drkit("restore-drill", "site", check=0)
    loose = []
    for root, dirs, files in os.walk(env.state):
        for name in [*dirs, *files]:
            path = os.path.join(root, name)
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            if not stat.S_ISLNK(os.lstat(path).st_mode) and mode & 0o077:
                loose.append(f"{path} {mode:04o}")
    assert stat.S_IMODE(env.state.stat().st_mode) == 0o700
    assert (env.state / "restic-cache").is_dir() and (env.state / "catalog.sqlite").is_file()
    assert loose == []
