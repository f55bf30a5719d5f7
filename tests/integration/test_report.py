"""`drkit report` end to end: snapshots made with plain restic at chosen times and drkit backups,
read back with --refresh from a real restic repository on SeaweedFS."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from drkit.evidence.records import parse_utc

pytestmark = pytest.mark.slow

H = 3600


def plain_backup(env, name: str, source, when: str) -> None:
    """An operator's manual backup with plain restic, dated `when` (UTC) with --time."""
    proc = env.restic(name, "backup", "--time", when, str(source))
    assert "snapshot" in proc.stdout


def report_json(env, *args: str) -> dict:
    proc = env.drkit("report", "--format", "json", *args, check=0)
    data = json.loads(proc.stdout)
    assert data["schema"] == "drkit.report/1"
    return data


def test_plain_restic_snapshots_give_design_section_6_figures_to_the_second(env, source, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")  # restic reads --time as local time; env.restic passes os.environ on
    env.write_policy("shop", [source], objectives={"rpo": "24h", "rto": "4h"})
    env.write_policy("idle", [source], objectives={"rpo": "24h", "rto": "4h"})
    env.drkit("repo", "init", "shop", check=0)
    env.drkit("repo", "init", "idle", check=0)
    for when in ("2025-06-01 02:00:00", "2025-06-02 02:00:00", "2025-06-04 02:00:00", "2025-06-05 02:00:00"):
        plain_backup(env, "shop", source, when)
    skewed = (datetime.now(timezone.utc) + timedelta(days=400)).strftime("%Y-%m-%d %H:%M:%S")
    plain_backup(env, "shop", source, skewed)  # a host with a wrong clock
    plain_backup(env, "idle", source, "2025-06-09 12:00:00")  # only after the period

    data = report_json(env, "--refresh", "--since", "2025-06-01", "--until", "2025-06-06")
    assert data["period"] == {"since": "2025-06-01T00:00:00.000000Z", "until": "2025-06-06T00:00:00.000000Z"}
    shop, idle = sorted(data["policies"], key=lambda p: p["name"], reverse=True)
    # nothing restorable 00:00-02:00 (2 h); Jun 2 02:00 data is 24 h old at Jun 3 02:00 and stays the
    # newest until the Jun 4 02:00 snapshot (24 h): 26 h of a 120 h period.
    assert shop["rpo"] == {
        "target_s": 86400.0,
        "attainment": pytest.approx(1 - 26 / 120, abs=1e-12),
        "breach_seconds": 26 * H,
        "worst_exposure_s": None,
        "current_exposure_s": 22 * H,
        "breach_windows": [
            {"start": "2025-06-01T00:00:00.000000Z", "end": "2025-06-01T02:00:00.000000Z"},
            {"start": "2025-06-03T02:00:00.000000Z", "end": "2025-06-04T02:00:00.000000Z"},
        ],
    }
    caveats = " ".join(shop["caveats"])
    assert "clock skew: 1 snapshot captured in the future" in caveats
    assert "4 snapshots without drkit backup evidence" in caveats
    assert "worst exposure is unbounded" in caveats
    assert shop["evidence"]["records"] == 0 and "no drkit evidence at all" in " ".join(shop["not_shown"])
    assert shop["sources"][0].endswith("5 snapshots in the local listing")

    assert idle["rpo"]["attainment"] == 0.0  # not null, not 1: no point means no recovery
    assert idle["rpo"]["breach_seconds"] == 120 * H
    assert idle["rpo"]["current_exposure_s"] is None

    table = env.drkit("report", "--since", "2025-06-01", "--until", "2025-06-06", check=0).stdout
    assert "shop" in table and "78.33%" in table and "0.00%" in table
    rows = list(csv.DictReader(io.StringIO(env.drkit("report", "--format", "csv", "--since", "2025-06-01",
                                                     "--until", "2025-06-06", check=0).stdout)))
    assert {r["name"]: r["rpo.breach_seconds"] for r in rows} == {"shop": "93600.0", "idle": "432000.0"}
    env.drkit("report", "--since", "2025-06-01", "--until", "2025-06-06", "--check", check=3)


def test_drkit_backups_count_from_their_completion_time(env, source):
    env.write_policy("shop", [source], objectives={"rpo": "1h", "rto": "4h"})
    env.drkit("repo", "init", "shop", check=0)
    first = json.loads(env.drkit("backup", "shop", "--json", check=0).stdout)["runs"][0]["record"]
    (source / "more.txt").write_text("changed")
    second = json.loads(env.drkit("backup", "shop", "--json", check=0).stdout)["runs"][0]["record"]
    c1, f1 = parse_utc(first["snapshot_time"]), parse_utc(first["finished_at"])
    c2, f2 = parse_utc(second["snapshot_time"]), parse_utc(second["finished_at"])
    until = f2 + timedelta(seconds=0.5)
    while datetime.now(timezone.utc) <= until:  # a period end in the future would be moved to now
        time.sleep(0.2)

    data = report_json(env, "--since", f1.isoformat(), "--until", until.isoformat())
    (shop,) = data["policies"]
    # E(t) = t - c1 until the second backup completes at f2 (not from its capture c2), then t - c2.
    worst = max((f2 - c1).total_seconds(), (until - c2).total_seconds())
    assert shop["rpo"]["worst_exposure_s"] == worst
    assert shop["rpo"]["current_exposure_s"] == (until - c2).total_seconds()
    assert shop["rpo"]["attainment"] == 1.0 and shop["rpo"]["breach_windows"] == []
    assert shop["evidence"]["records"] == 2 and shop["evidence"]["verified"] == 2
    assert shop["growth"]["samples"] == 2 and shop["growth"]["latest_bytes"] == second["bytes"]
    assert not any("no drkit backup evidence" in c for c in shop["caveats"])


def test_html_report_is_written_and_its_path_printed(env, source, tmp_path):
    env.write_policy("shop", [source])
    env.drkit("repo", "init", "shop", check=0)
    env.drkit("backup", "shop", check=0)
    out = tmp_path / "report.html"
    proc = env.drkit("report", "--format", "html", "-o", str(out), check=0)
    assert str(out) in proc.stdout
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "shop" in html and html.count("<svg") >= 2
    assert f"<code>path {source}</code>" in html  # what the policy protects
    verified = env.drkit("evidence", "verify", "--report", str(out), check=0)
    assert "signature holds" in verified.stdout
    out.write_text(html.replace("shop", "shoq", 1))  # one byte in the page's title
    assert env.drkit("evidence", "verify", "--report", str(out), check=4).returncode == 4


def test_unknown_policy_and_bad_dates_are_usage_errors(env, source):
    env.write_policy("shop", [source])
    assert "not an ISO date" in env.drkit("report", "--since", "last week", check=2).stderr
    assert "empty period" in env.drkit("report", "--since", "2025-06-02", "--until", "2025-06-01", check=2).stderr
    env.drkit("report", "--policy", "nope", check=2)


def test_status_exports_prometheus_and_exits_3_on_breach(env, source, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    env.write_policy("shop", [source], objectives={"rpo": "1h", "rto": "4h"})
    env.write_policy("tight", [source], objectives={"rpo": "2s", "rto": "4h"})
    for name in ("shop", "tight"):
        env.drkit("repo", "init", name, check=0)
        env.drkit("backup", name, check=0)
    env.drkit("restore-drill", "shop", check=0)
    time.sleep(2.5)  # `tight` now exceeds its 2 s RPO
    prom = tmp_path / "textfile" / "drkit.prom"
    proc = env.drkit("status", "--json", "--prometheus", str(prom), check=3)
    board = json.loads(proc.stdout)
    assert board["schema"] == "drkit.status/1"
    rows = {r["policy"]: r for r in board["policies"]}
    assert rows["shop"]["verdict"] == "OK" and rows["shop"]["last_drill_result"] == "pass"
    assert rows["tight"]["problems"] == ["RPO"]
    values = {(s.name, s.labels["policy"]): s.value for f in text_string_to_metric_families(prom.read_text())
              for s in f.samples if "policy" in s.labels}
    assert values[("drkit_last_drill_success", "shop")] == 1
    assert values[("drkit_exposure_seconds", "tight")] > 2
    table = env.drkit("status", check=3).stdout
    assert "shop" in table and "RPO" in table
    runbook = tmp_path / "shop-runbook.md"
    assert str(runbook) in env.drkit("runbook", "shop", "-o", str(runbook), check=0).stdout
    text = runbook.read_text()
    assert "result **pass**" in text and f"export RESTIC_PASSWORD_FILE={env.password_file}" in text
    assert "correct horse" not in text  # the password itself never
