"""drkit postmortem after a real failed drill (restic + SeaweedFS)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_a_failed_drill_gets_a_post_mortem_from_its_evidence(env, source):
    env.write_policy("shop", [source], drill={"sandbox": str(env.root / "drills"),
                                              "checks": [{"file_exists": f"{source}/missing.txt"}]})
    env.drkit("repo", "init", "shop", check=0)
    env.drkit("backup", "shop", check=0)
    record = json.loads(env.drkit("restore-drill", "shop", "--json", check=4).stdout)["record"]
    out = env.root / "pm.md"
    assert str(out) in env.drkit("postmortem", "shop", "-o", str(out), check=0).stdout
    text = out.read_text()
    assert text.startswith("# Post-mortem: FAIL drill of shop, ")
    assert "(signature verified)" in text and f"`{record['snapshot_id'][:8]}` taken" in text
    assert f"1. check failed: file_exists {source}/missing.txt: not in the restored tree" in text
    assert "restore ended after" in text and "drill ended: FAIL" in text
    assert "the drill did not end in a verified recovery" in text and "## Root cause" in text
