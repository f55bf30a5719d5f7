"""The ransomware guardrail against real restic and S3 (docs/guard.md): files encrypted in place
or mostly deleted make a suspicious backup that still succeeds, notifies `backup_suspicious`,
shows in `status`, and `forget` refuses until someone accepts it — and then keeps the clean
snapshots whatever the retention says. An ordinary 10 % change is not suspicious."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from factories import Env, make_tree
from receivers import HttpReceiver

pytestmark = pytest.mark.slow

FILES = 40
SIZE = 32 * 1024   # big enough that restic's tree metadata is small beside the data


def data_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_size)


def encrypt_in_place(root: Path) -> None:
    """What ransomware does: every file XORed with random bytes, same name, same size."""
    for path in data_files(root):
        data = path.read_bytes()
        path.write_bytes(bytes(a ^ b for a, b in zip(data, os.urandom(len(data)))))


def backup(env: Env, name: str) -> dict:
    run = json.loads(env.drkit("backup", name, "--json", check=0).stdout)["runs"][0]
    assert run["record"]["measured"]["guard"] == run["detail"]["guard"]   # signed in the evidence
    return run


def snapshot_ids(env: Env, name: str) -> list[str]:
    return [s["id"] for s in json.loads(env.restic(name, "snapshots", "--json").stdout)]


def test_in_place_encryption_is_suspicious_and_forget_keeps_the_clean_snapshots(env: Env, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src", files=FILES, size=SIZE)
    with HttpReceiver() as hook:
        env.write_policy("victim", [source], retention={"keep_last": 1},
                         notify=[{"webhook": hook.url + "/hook", "on": ["success", "backup_suspicious"]}])
        env.drkit("repo", "init", "victim", check=0)
        clean = [backup(env, "victim"), backup(env, "victim")]
        assert [r["detail"]["guard"]["suspicious"] for r in clean] == [False, False]
        assert clean[1]["detail"]["guard"]["baseline_backups"] == 1

        encrypt_in_place(source)
        hit = backup(env, "victim")
        assert hit["status"] == "ok" and hit["exit_code"] == 0       # the backup itself succeeded
        guard = hit["detail"]["guard"]
        assert guard["suspicious"] is True
        assert {"mass_change", "bytes_added"} <= set(guard["signals"]), guard
        assert guard["changed_percent"] > 90 and guard["added_ratio"] > 0.9
        assert any("looks like ransomware" in w and "--accept-suspicious" in w for w in hit["warnings"])
        events = [json.loads(r.body)["event"] for r in hook.wait_for(3)]
        assert events == ["success", "success", "backup_suspicious"]

    bad = hit["record"]["snapshot_id"]
    status = env.drkit("status", "--json")
    assert status.returncode == 3
    victim = json.loads(status.stdout)["policies"][0]
    assert "SUSPICIOUS" in victim["problems"] and victim["suspicious_snapshots"] == [bad]
    assert "SUSPICIOUS" in env.drkit("status").stdout
    metrics = tmp_path / "drkit.prom"
    env.drkit("status", "--prometheus", str(metrics))
    assert 'drkit_suspicious_snapshots{policy="victim"} 1' in metrics.read_text()
    report = json.loads(env.drkit("report", "--format", "json", check=None).stdout)["policies"][0]
    assert [(m["snapshot_id"], m["accepted"]) for m in report["suspicious_backups"]] == [(bad, False)]
    assert any(c.startswith(f"suspicious backup {bad[:8]}") for c in report["caveats"])

    listed = json.loads(env.drkit("snapshots", "victim", "--json", check=0).stdout)["snapshots"]
    assert {s["id"]: s["guard"] for s in listed} == {**{r["record"]["snapshot_id"]: None for r in clean}, bad: "suspicious"}

    before = snapshot_ids(env, "victim")
    refused = env.drkit("forget", "victim", check=3)
    assert f"forget refused: snapshot {bad[:8]} is marked suspicious" in refused.stderr
    assert f"--accept-suspicious {bad[:8]}" in refused.stderr
    assert snapshot_ids(env, "victim") == before                 # nothing forgotten, nothing pruned
    new_host = env.env(DRKIT_STATE_DIR=str(tmp_path / "new-host"))   # the marks live in the bucket's evidence
    env.drkit("catalog", "rebuild", env=new_host, check=0)
    assert "is marked suspicious" in env.drkit("forget", "victim", env=new_host, check=3).stderr

    wrong = env.drkit("forget", "victim", "--accept-suspicious", clean[0]["record"]["snapshot_id"][:8], check=2)
    assert "is not a snapshot the guardrail marked" in wrong.stderr and "Traceback" not in wrong.stderr

    # A person checked: accept it. keep_last 1 alone would remove both clean snapshots;
    # guard.keep_clean (3) keeps them.
    done = json.loads(env.drkit("forget", "victim", "--accept-suspicious", bad[:8], "--json", check=0).stdout)
    assert done["detail"]["accepted_suspicious"] == [bad]
    assert done["record"]["measured"]["accepted_suspicious"] == [bad]
    assert set(done["detail"]["protected"]) == {r["record"]["snapshot_id"] for r in clean}
    assert done["detail"]["removed"] == []
    assert set(snapshot_ids(env, "victim")) == set(before)
    listed = json.loads(env.drkit("snapshots", "victim", "--json", check=0).stdout)["snapshots"]
    assert [s["guard"] for s in listed if s["id"] == bad] == ["accepted"]
    assert "SUSPICIOUS" not in json.loads(env.drkit("status", "--json").stdout)["policies"][0]["problems"]


def test_mass_deletion_is_suspicious_but_an_ordinary_change_is_not(env: Env, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src", files=FILES, size=SIZE)
    env.write_policy("shrinks", [source])
    env.drkit("repo", "init", "shrinks", check=0)
    backup(env, "shrinks")

    files = data_files(source)
    for path in files[: len(files) // 10]:      # a normal day: 10 % of the files edited
        path.write_bytes(os.urandom(path.stat().st_size))
    normal = backup(env, "shrinks")
    assert normal["detail"]["guard"]["suspicious"] is False, normal["detail"]["guard"]

    for path in files[5:]:                       # most files deleted
        path.unlink()
    quiet = env.drkit("-q", "backup", "shrinks", check=0)   # cron's form: silent on success, not on this
    assert quiet.stdout == ""
    assert quiet.stderr.startswith("warning: shrinks: snapshot ")
    assert "looks like ransomware or mass deletion" in quiet.stderr and "files against a baseline" in quiet.stderr
    status = json.loads(env.drkit("status", "--json").stdout)["policies"][0]
    assert "SUSPICIOUS" in status["problems"]
