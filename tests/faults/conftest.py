"""Fixtures of the fault matrix (docs/reliability.md)."""

from __future__ import annotations

import pytest


@pytest.fixture
def backed_up(env, source):
    """A policy `shop` with one good backup."""
    env.write_policy("shop", [source])
    env.drkit("repo", "init", "shop", check=0)
    env.drkit("backup", "shop", check=0)
    return env
