"""`drkit status` verdicts: exposure vs RPO, last drill vs RTO, drill overdue after 1.5 intervals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from report_builders import History, at, make_policy

from drkit.views.status import policy_status

NOW = at(60)


@pytest.fixture
def history(tmp_path) -> History:
    return History(tmp_path / "state")


def status(history: History, **policy):
    history.list()
    return policy_status(history.catalog, history.state, make_policy(**policy), NOW)


def test_fresh_policy_with_a_recent_backup_is_ok_and_not_yet_due_for_a_drill(history):
    history.backup(NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    s = status(history)
    assert s.problems == [] and s.verdict == "OK"
    assert s.exposure_s == 2 * 3600
    # the clock starts at the first recovery point, but not before the objectives came into force: by
    # default the first evidence record, i.e. the finish of the backup that made that point
    assert s.last_drill is None and s.due_by == NOW - timedelta(hours=1) + timedelta(days=45)
    assert s.as_dict()["drill_overdue"] is False and s.as_dict()["last_drill_at"] is None


def test_never_drilled_policy_is_overdue_45_days_after_its_first_recovery_point(history):
    for d in range(10, 60):
        history.backup(at(d, 2), at(d, 2.5))
    s = status(history)
    assert s.due_by == at(10, 2.5) + timedelta(days=45) and s.drill_overdue  # in force from the first backup's finish
    assert s.problems == ["DRILL OVERDUE"] and s.verdict == "BREACH"


def test_manual_snapshots_start_the_drill_clock_too(history):
    history.manual(at(1))
    history.backup(at(59, 22), at(59, 23))
    declared = {"rpo": "25h", "rto": "4h", "in_force_from": "2026-01-01"}
    assert status(history, objectives=declared).due_by == at(1) + timedelta(days=45)
    # by default in force from the first drkit evidence: the manual snapshot before it starts no clock
    s = status(history)
    assert s.due_by == at(59, 23) + timedelta(days=45) and not s.drill_overdue


@pytest.mark.parametrize(("age_days", "overdue"), [(10, False), (10.5, False), (11, True)])
def test_weekly_drill_is_overdue_after_one_and_a_half_weeks(history, age_days, overdue):
    history.backup(at(59, 22), at(59, 23))
    history.drill(NOW - timedelta(days=age_days, hours=1), 1)
    s = status(history, schedule={"drill": "every sunday at 04:00"})
    assert s.drill_interval_s == 7 * 86400
    assert s.drill_overdue is overdue and ("DRILL OVERDUE" in s.problems) is overdue
    assert s.last_drill_ok and not s.rto_breached


def test_slow_or_failed_last_drill_is_an_rto_problem_and_interrupted_ones_are_skipped(history):
    history.backup(at(59, 22), at(59, 23))
    history.drill(at(55), 5, "breach")  # 5 h > RTO 4 h
    assert status(history).problems == ["RTO"]
    history.drill(at(57), 1, "pass")
    assert status(history).problems == []
    history.drill(at(58), 0.1, "interrupted")
    s = status(history)
    assert s.problems == [] and s.last_drill.result == "pass"
    history.drill(at(59), 1, "fail")
    s = status(history)
    assert s.problems == ["RTO"] and s.last_drill_rta_s == 3600 and not s.last_drill_ok
    assert s.last_pass_at == at(57, 1)  # a failed drill does not reset the overdue clock


def test_exposure_beyond_the_rpo_is_a_breach(history):
    history.backup(at(58), at(58, 1))
    history.drill(at(58, 2), 1)
    s = status(history, objectives={"rpo": "25h", "rto": "4h", "in_force_from": "2026-01-01"})
    assert s.exposure_s == 2 * 86400 and s.problems == ["RPO"]
    # in force all along: over the last 30 days only [Feb 28 01:00, Mar 1 01:00) had a point within the RPO
    assert s.report.rpo.attainment == pytest.approx(1 / 30)
    # by default in force from the first evidence (Feb 28 01:00): 24 h met of 47 h, the breach still counts
    s = status(history)
    assert s.problems == ["RPO"] and s.report.rpo.attainment == pytest.approx(24 / 47)


def test_no_recovery_point_is_an_unbounded_rpo_breach_but_no_drill_is_due(history):
    s = status(history)
    assert s.exposure_s == float("inf") and s.problems == ["RPO"] and s.due_by is None
    assert s.as_dict()["exposure_s"] is None


def test_a_last_drill_taking_exactly_the_rto_meets_it(history):
    history.backup(at(59, 22), at(59, 23))
    history.drill(at(58), 4)  # RTA 4 h = RTO 4 h
    s = status(history)
    assert s.last_drill_rta_s == 4 * 3600 and s.last_drill_ok and s.problems == []
    history.drill(at(59), 4 + 1 / 3600)  # one second over
    assert status(history).problems == ["RTO"]


def test_an_s3_repository_without_key_escrow_is_a_warning_not_a_breach(history):
    from drkit.engines.catalog import EscrowRow

    history.backup(at(-2), at(-2))
    bare = status(history, repository=None, repositories=[
        {"name": "primary", "url": "s3:http://127.0.0.1:9/bucket/db", "password_file": "/etc/pw"},
        {"name": "local", "url": "local:/srv/restic", "password_file": "/etc/pw"}])
    assert bare.unescrowed == ("primary",) and not any("ESCROW" in p.upper() for p in bare.problems)  # a local repository has no bucket to hold one
    assert bare.warnings() == ["db: no key escrow for repository primary: its password exists only where this host "
                               "keeps it (run: drkit keys escrow db --recipient age1…; docs/security.md)"]
    assert bare.as_dict()["key_escrow_missing"] == ["primary"]
    history.catalog.note_escrow(EscrowRow("db", "primary", "drkit-escrow/db/primary.age", ("age1x",), NOW))
    assert status(history).warnings() == [] and status(history).as_dict()["key_escrow_missing"] == []
