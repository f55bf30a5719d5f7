"""A broken policy file does not stop `backup --all` on the others (docs/reliability.md,
"Zero or broken policies"): the good policy is backed up, the broken file reported, exit 2."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_backup_all_backs_up_the_good_policies_and_reports_the_broken_file(env, source):
    env.write_policy("site", [source])
    env.drkit("repo", "init", "site", check=0)
    broken = env.policies / "broken.yaml"
    broken.write_text("version: 1\nname: broken\nobjectives: {rpo: soon, rto: 4h}\n")
    proc = env.drkit("backup", "--all", check=2)
    assert proc.stdout.startswith("OK site: snapshot "), proc.stdout
    assert f"{broken}:3: objectives.rpo: 'soon' is not a duration" in proc.stderr
    assert len(env.restic("site", "snapshots", "--json").stdout.strip()) > 2  # the snapshot is real


def test_backup_all_of_an_empty_directory_is_exit_2(env):
    env.policies.mkdir(parents=True, exist_ok=True)
    proc = env.drkit("backup", "--all", check=2)
    assert proc.stdout == ""
    assert f"drkit: error: no policies in {env.policies}" in proc.stderr
