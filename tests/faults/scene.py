"""How the cases set their scene: incompressible data, what the bucket holds, a policy's repository
reached through another endpoint (a misbehaving proxy)."""

from __future__ import annotations

import os
from pathlib import Path

from factories import Env


def random_tree(root: Path, files: int = 3, size: int = 8 << 20) -> Path:
    """Incompressible data: several restic packs, so an upload takes a while and packs can be told apart."""
    root.mkdir(parents=True)
    for i in range(files):
        (root / f"blob{i}.bin").write_bytes(os.urandom(size))
    return root


def object_keys(s3, bucket: str, prefix: str) -> dict[str, int]:
    """Key -> size of every object under `prefix`."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}


def repository_at(env: Env, endpoint: str, **extra) -> dict:
    """The `repository` section of policy `shop` with its S3 endpoint replaced (a proxy, say)."""
    return {"url": f"s3:{endpoint}/{env.bucket}/shop", "password_file": str(env.password_file), **extra}
