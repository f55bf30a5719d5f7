"""A plug-in outside drkit/ (tests/toy_plugin.py, loaded by DRKIT_PLUGINS) adds a target kind and a
drill check that back up and restore through real restic and a real SeaweedFS, like built-in ones."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TESTS = Path(__file__).parents[1]
TEXT = "written by the toy plug-in"


def with_plugin(env) -> dict[str, str]:
    """The CLI's environment with the plug-in importable and named in DRKIT_PLUGINS."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    return env.env(DRKIT_PLUGINS="toy_plugin", PYTHONPATH=path)


def toy_policy(env, source: Path, expect: str) -> Path:
    return env.write_policy("toys", targets=[{"path": str(source)}, {"toy": {"text": TEXT}}],
                            drill={"sandbox": str(env.root / "drills"), "checks": [{"toy_check": {"expect": expect}}]})


def test_a_plugin_target_and_check_back_up_restore_and_judge_the_drill(env, source):
    plugged = with_plugin(env)
    file = toy_policy(env, source, expect=TEXT)
    unplugged = env.drkit("policy", "validate", check=2)
    assert f"{file}:" in unplugged.stderr and "targets[1]: unknown kind ['toy']" in unplugged.stderr

    env.drkit("repo", "init", "toys", env=plugged, check=0)
    [backup] = json.loads(env.drkit("backup", "toys", "--json", env=plugged, check=0).stdout)["runs"]
    listing = env.restic("toys", "ls", "latest").stdout
    assert any(line.endswith("/staging/toys/toy/toy.txt") for line in listing.splitlines()), listing

    passed = json.loads(env.drkit("restore-drill", "toys", "--json", env=plugged, check=0).stdout)["record"]
    assert passed["result"] == "pass" and passed["snapshot_id"] == backup["record"]["snapshot_id"]
    [check] = passed["measured"]["checks"]
    assert (check["name"], check["passed"], check["detail"]) == ("toy_check toy.txt", True, f"restored toy holds {TEXT!r}")

    toy_policy(env, source, expect="other text")
    failed = json.loads(env.drkit("restore-drill", "toys", "--json", env=plugged, check=4).stdout)["record"]
    assert failed["result"] == "fail"
    [check] = failed["measured"]["checks"]
    assert not check["passed"] and check["detail"] == f"restored toy holds {TEXT!r}, expected 'other text'"
