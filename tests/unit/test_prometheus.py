"""The node-exporter textfile: valid exposition format (parsed by prometheus_client), atomic writes."""

from __future__ import annotations

import math
import shutil
import subprocess
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from report_builders import History, at, make_policy

from drkit.views.report.prometheus import render, write_textfile
from drkit.views.status import policy_status

NOW = at(60)


@pytest.fixture
def rows(tmp_path):
    history = History(tmp_path / "state")
    history.backup(NOW - timedelta(hours=3), NOW - timedelta(hours=2), policy="db")
    history.drill(NOW - timedelta(hours=1, minutes=30), 0.5, policy="db")
    history.list("db")
    history.list("new")
    declared = {"rpo": "25h", "rto": "4h", "in_force_from": "2026-01-01"}  # so the 30 days before count
    return [policy_status(history.catalog, history.state, make_policy("db", objectives=declared), NOW),
            policy_status(history.catalog, history.state, make_policy("new"), NOW)]


def samples(text: str) -> dict[tuple[str, str], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        assert family.documentation and family.type == "gauge", family.name
        for sample in family.samples:
            found[(sample.name, sample.labels.get("policy", ""))] = sample
    return found


def test_textfile_parses_and_carries_every_metric_per_policy(rows):
    text = render(rows, NOW.timestamp())
    found = samples(text)
    value = {key: s.value for key, s in found.items()}
    assert value[("drkit_last_backup_timestamp_seconds", "db")] == (NOW - timedelta(hours=2)).timestamp()
    assert value[("drkit_exposure_seconds", "db")] == 3 * 3600
    assert value[("drkit_rpo_seconds", "db")] == 25 * 3600 and value[("drkit_rto_seconds", "db")] == 4 * 3600
    assert value[("drkit_last_drill_rta_seconds", "db")] == 1800
    assert value[("drkit_last_drill_success", "db")] == 1
    assert value[("drkit_drill_overdue", "db")] == 0
    assert found[("drkit_rpo_attainment_ratio", "db")].labels == {"policy": "db", "window": "30d"}
    assert 0 < value[("drkit_rpo_attainment_ratio", "db")] < 1
    # a policy with nothing yet: unknown is NaN, never 0; no recovery point is an infinite exposure
    assert math.isnan(value[("drkit_last_backup_timestamp_seconds", "new")])
    assert value[("drkit_exposure_seconds", "new")] == math.inf
    assert math.isnan(value[("drkit_last_drill_rta_seconds", "new")])
    assert value[("drkit_last_drill_success", "new")] == 0
    assert value[("drkit_rpo_attainment_ratio", "new")] == 0
    assert value[("drkit_status_timestamp_seconds", "")] == NOW.timestamp()
    # HELP/TYPE appear once per metric, before its samples
    assert text.count("# TYPE drkit_exposure_seconds gauge") == 1
    assert text.index("# HELP drkit_exposure_seconds") < text.index('drkit_exposure_seconds{policy="db"}')


def test_label_values_are_escaped(rows):
    from dataclasses import replace

    odd = replace(rows[0], policy='we"ird\\name')
    found = samples(render([odd], NOW.timestamp()))
    assert ("drkit_rpo_seconds", 'we"ird\\name') in found


def test_textfile_is_replaced_atomically_without_leftovers(tmp_path, rows):
    target = tmp_path / "collector" / "drkit.prom"
    write_textfile(target, "old 1\n")
    write_textfile(target, render(rows, NOW.timestamp()))
    assert sorted(p.name for p in target.parent.iterdir()) == ["drkit.prom"]
    assert samples(target.read_text())
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_the_job_textfile_adds_last_runs_and_run_counters_per_policy_and_job(tmp_path):
    from drkit.views.textfile import refresh

    history = History(tmp_path / "state")
    history.backup(NOW - timedelta(hours=5), NOW - timedelta(hours=4), policy="db")
    history.backup(NOW - timedelta(hours=3), NOW - timedelta(hours=2), policy="db", result="error")
    history.drill(NOW - timedelta(hours=1, minutes=30), 0.5, policy="db")
    history.list("db")
    path = tmp_path / "textfile" / "drkit.prom"
    path.parent.mkdir()
    assert refresh(history.catalog, history.state, [make_policy("db"), make_policy("new")], path, NOW)
    families = {f.name: f for f in text_string_to_metric_families(path.read_text())}
    assert families["drkit_runs"].type == "counter"            # exposed as drkit_runs_total
    runs = {(s.labels["job"], s.labels["result"]): s.value for s in families["drkit_runs"].samples
            if s.name == "drkit_runs_total"}
    assert runs == {("backup", "error"): 1, ("backup", "pass"): 1, ("drill", "pass"): 1}
    last = {(s.labels["policy"], s.labels["job"]): s.value
            for s in families["drkit_last_run_success"].samples}
    assert last == {("db", "backup"): 0, ("db", "drill"): 1}      # the newest backup failed; "new" never ran
    success = {s.labels["job"]: s.value for s in families["drkit_last_success_timestamp_seconds"].samples}
    assert success["backup"] == (NOW - timedelta(hours=4)).timestamp()
    assert families["drkit_exposure_seconds"].samples                  # the status metrics are there too
    for name in families:
        assert name.startswith("drkit_") and families[name].documentation
    if shutil.which("promtool"):   # Debian's prometheus package: the naming-convention linter
        lint = subprocess.run(["promtool", "check", "metrics"], input=path.read_text(), capture_output=True,
                              text=True, timeout=60)
        assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), lint.stdout + lint.stderr


def test_a_textfile_that_cannot_be_written_is_a_warning_not_a_failed_run(tmp_path, caplog):
    from drkit.views.textfile import refresh

    history = History(tmp_path / "state")
    (tmp_path / "file").write_text("")
    assert not refresh(history.catalog, history.state, [make_policy("db")], tmp_path / "file" / "x.prom", NOW)
    assert "could not write the Prometheus textfile" in caplog.text
