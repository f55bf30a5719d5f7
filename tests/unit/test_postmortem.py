"""drkit postmortem: the skeleton is filled from the drill's signed evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from report_builders import History, at, make_policy

from drkit.core import errors
from drkit.evidence.records import Record
from drkit.views.postmortem import build, choose_drill, render

NOW = at(10)


def breach(history: History) -> Record:
    start = at(9, 4)
    record = Record(kind="drill", policy="db", started_at=start, finished_at=start + timedelta(hours=5),
                    result="breach", snapshot_id="cd" * 32, snapshot_time=at(9, 2), bytes=10**9, files=1200,
                    phases={"preflight": 60.0, "restore": 4 * 3600.0, "verify": 3000.0, "checks": 120.0,
                            "other": 420.0},
                    objectives={"rpo_s": 25 * 3600.0, "rto_s": 4 * 3600.0},
                    measured={"snapshot_selector": "latest", "verify": "full", "rto_s": 4 * 3600.0,
                              "rta_s": 5 * 3600.0, "checks": [{"name": "file_exists x", "passed": True}]})
    record = history.key.sign(record)
    history.catalog.add_record(record)
    return record


def test_a_breached_drill_gets_its_timeline_and_the_exceeded_rto(tmp_path):
    history = History(tmp_path / "state")
    history.drill(at(2, 4), 1)
    record = breach(history)
    history.drill(at(9, 12), 1)  # a later pass: the newest drill to review is still the breach
    text = render(build(history.catalog, history.state, make_policy(), None, NOW))
    assert text.startswith("# Post-mortem: BREACH drill of db, 2026-01-10 04:00:00 UTC")
    assert f"evidence record `{record.digest()[:12]}` (signature verified)" in text
    assert "- **RTO** 4h: the recovery took 5h, **over by 1h** (125 % of the objective)." in text
    assert "| 2026-01-10 04:01:00 UTC | 1m | preflight ended after 1m |" in text
    assert "| 2026-01-10 08:01:00 UTC | 4h 1m | restore ended after 4h |" in text
    assert "| 2026-01-10 09:00:00 UTC | 5h | drill ended: BREACH (7m outside the phases: policy load, lock) |" in text
    assert "only slower than the RTO" in text and "## Root cause" in text and "## Actions" in text
    assert "| 2026-01-03 04:00:00 UTC | PASS | 1h |" in text  # the drill before it


def test_the_drill_is_chosen_by_digest_or_refused(tmp_path):
    history = History(tmp_path / "state")
    passed = history.drill(at(2, 4), 1)
    with pytest.raises(errors.UsageError, match="db has no failed, breached or errored drill"):
        choose_drill(history.catalog, "db", None)
    assert choose_drill(history.catalog, "db", passed.digest()[:8]) == passed
    with pytest.raises(errors.UsageError, match="--drill ffff0000: no drill record of db"):
        choose_drill(history.catalog, "db", "ffff0000")
