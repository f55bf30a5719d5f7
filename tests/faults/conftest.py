"""Fixtures of the fault matrix (docs/reliability.md).

Most cases start from the same state, a policy `shop` with one good backup. It is made once per
session (`golden`) and each test gets a copy of it (`backed_up`): the bucket's objects copied into
the test's own fresh bucket, the state directory copied into the test's own. A copy costs a fraction
of a second; `repo init` + `backup` cost several, and the cases need a dozen of them.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from factories import Env, make_env, make_tree


@dataclass(frozen=True)
class Golden:
    """The session's one good backup: its installation, its source tree (never changed) and snapshot."""

    env: Env
    source: Path
    snapshot_id: str


@pytest.fixture(scope="session")
def golden(tmp_path_factory, seaweedfs) -> Golden:
    root = tmp_path_factory.mktemp("golden")
    bucket = f"g-{uuid.uuid4().hex[:8]}"
    seaweedfs.client().create_bucket(Bucket=bucket)
    env = make_env(root / "env", seaweedfs, bucket)
    source = make_tree(root / "src")
    env.write_policy("shop", [source])
    env.drkit("repo", "init", "shop", check=0)
    env.drkit("backup", "shop", check=0)
    [snapshot] = json.loads(env.restic("shop", "snapshots", "--json").stdout)
    return Golden(env, source, snapshot["id"])


@pytest.fixture
def backed_up(env, golden, seaweedfs) -> Env:
    """A policy `shop` (source: `golden.source`) with one good backup: a copy of the golden one."""
    s3 = seaweedfs.client()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=golden.env.bucket):
        for item in page.get("Contents", []):
            s3.copy_object(Bucket=env.bucket, Key=item["Key"],
                           CopySource={"Bucket": golden.env.bucket, "Key": item["Key"]})
    shutil.copytree(golden.env.state, env.state, symlinks=True)
    env.write_policy("shop", [golden.source])
    return env
