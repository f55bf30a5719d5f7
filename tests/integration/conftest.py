"""Fixtures shared by the integration tests: an isolated drkit installation on the session's
SeaweedFS (fresh bucket per test) and a small deterministic source tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import Env, make_env, make_tree


@pytest.fixture
def env(tmp_path, seaweedfs, bucket) -> Env:
    return make_env(tmp_path, seaweedfs, bucket)


@pytest.fixture
def source(tmp_path) -> Path:
    return make_tree(tmp_path / "src")
