"""Reports read from a real SQLite catalog with signed evidence; JSON and CSV shapes."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_builders import H, History, at, make_policy

from drkit.core.compliance import Period, RecoveryPoint, rpo_analysis
from drkit.evidence.records import Record
from drkit.views.report import as_csv, as_json
from drkit.views.report.gather import public_url


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(tmp_path / "state")


def daily(history: History, days: range) -> None:
    for d in days:
        history.backup(at(d, 2), at(d, 2.5), size=1000 + 10 * d)


def test_report_from_catalog_counts_manual_and_retired_snapshots(history):
    daily(history, range(-10, 10))
    history.manual(at(4, 14))
    history.list()
    # retention removed the Jan 3 snapshot after the listing: evidence still knows it existed
    history.backup(at(9.5), at(9.5, 0.5), listed=False)
    report = history.report(at(0), at(10)).policies[0]
    assert report.rpo.breach_seconds == 0
    assert report.evidence.records == 11 and report.evidence.verified == 11
    assert report.evidence.first_at == at(-10, 2.5)
    assert report.growth.latest_bytes == 1000  # the 09.5 backup is the newest (size 1000)
    text = " ".join(report.caveats)
    assert "1 snapshot without drkit backup evidence" in text
    assert "1 snapshot known from drkit evidence but no longer in the repository" in text


def test_tampered_record_is_shown_unverified_and_its_drill_not_counted(history):
    daily(history, range(-1, 10))
    history.list()
    drill = history.drill(at(2, 10), 1)
    before = history.report(at(0), at(10)).policies[0]
    assert before.rto.slots_met == 1
    history.catalog.db.execute("update evidence set record = replace(record, '\"bytes\":0', '\"bytes\":7')"
                               " where digest = ?", (drill.digest(),))
    after = history.report(at(0), at(10)).policies[0]
    assert after.rto.slots_met == 0 and after.rto.last_pass_at is None
    assert after.evidence.records == 11 and after.evidence.verified == 10
    bad = [i for i in after.items if not i.verified]
    assert [i.record.kind for i in bad] == ["drill"] and "edited after signing" in bad[0].problem


def test_keys_imported_into_the_catalog_verify_on_a_host_without_the_signing_key(history, tmp_path):
    daily(history, range(0, 3))
    history.list()
    stranger = tmp_path / "other-host"
    unknown = history.report(at(0), at(3), state=stranger).policies[0]
    assert unknown.evidence.verified == 0
    assert "unknown signing key" in unknown.items[0].problem
    history.catalog.add_public_key(history.key.key_id, history.key.public_pem())
    known = history.report(at(0), at(3), state=stranger).policies[0]
    assert known.evidence.verified == known.evidence.records == 3


def test_json_shape_and_nulls(history):
    history.list()  # an empty repository
    data = json.loads(as_json.render(history.report(at(0), at(10))))
    assert data["period"] == {"since": "2026-01-01T00:00:00.000000Z", "until": "2026-01-11T00:00:00.000000Z"}
    assert data["generated_at"] == "2026-01-11T00:00:00.000000Z"
    (policy,) = data["policies"]
    assert set(policy) >= {"name", "tier", "owner", "rpo", "rto", "verified_rpo", "growth", "evidence",
                           "caveats", "sources", "not_shown"}
    assert policy["rpo"] == {"target_s": 90000.0, "attainment": 0.0, "breach_seconds": 864000.0,
                             "worst_exposure_s": None, "current_exposure_s": None,
                             "breach_windows": [{"start": "2026-01-01T00:00:00.000000Z",
                                                 "end": "2026-01-11T00:00:00.000000Z"}]}
    assert set(policy["rto"]) >= {"target_s", "attainment", "slots_counted", "slots_met", "rta_p50_s", "rta_p95_s",
                                  "rta_max_s", "last_pass_at", "projected_full_rto_s", "projected_exceeds_rto"}
    assert policy["evidence"] == {"records": 0, "verified": 0, "first_at": None, "by_kind": {}}
    assert policy["growth"]["rto_crossing_at"] is None
    assert any("unbounded (null)" in c for c in policy["caveats"])
    assert data["not_shown"] and policy["sources"][0].startswith("restic repository s3:http://127.0.0.1:9/bucket/db")


def test_csv_has_one_row_per_policy_with_the_json_fields_flattened(history):
    daily(history, range(-1, 10))
    history.list()
    history.list("web")
    report = history.report(at(0), at(10), make_policy("db"), make_policy("web"))
    rows = list(csv.DictReader(io.StringIO(as_csv.render(report))))
    assert [r["name"] for r in rows] == ["db", "web"]
    db, web = rows
    assert float(db["rpo.attainment"]) == 1.0 and float(web["rpo.attainment"]) == 0.0
    # worst just before each 02:30 completion: the previous day's 02:00 capture, 24.5 h old
    assert db["rpo.worst_exposure_s"] == "88200.0"
    assert db["rpo.breach_seconds"] == "0.0" and web["rpo.breach_seconds"] == "864000.0"
    assert db["rpo.current_exposure_s"] == "79200.0"  # Jan 11 00:00 - Jan 10 02:00 = 22 h
    assert web["rpo.worst_exposure_s"] == ""  # null
    assert web["rpo.breach_windows"] == "2026-01-01T00:00:00.000000Z/2026-01-11T00:00:00.000000Z"
    assert db["evidence.by_kind.backup"] == "10" and db["evidence.by_kind.drill"] == "0"
    assert db["period.since"] == "2026-01-01T00:00:00.000000Z"
    assert " | " in web["caveats"]


def test_public_url_drops_credentials():
    assert public_url("s3:https://user:secret@host/bucket/x") == "s3:https://host/bucket/x"
    assert public_url("s3:https://host/bucket/x") == "s3:https://host/bucket/x"
    assert public_url("/srv/repo") == "/srv/repo"


# --- the bounded point query equals the whole history -------------------------------------------

event = st.tuples(st.integers(-40 * 24, 20 * 24), st.one_of(st.integers(0, 60), st.integers(0, 12 * 24)),
                  st.booleans(), st.booleans())


@settings(max_examples=60, deadline=None)
@given(st.lists(event, max_size=25), st.integers(-5 * 24, 10 * 24), st.integers(1, 10 * 24))
def test_bounded_point_query_gives_the_same_rpo_as_every_snapshot(events, start_h, length_h):
    """recovery_point_rows reads only rows near the period; the figures must equal the full history's."""
    with tempfile.TemporaryDirectory() as tmp:
        history = History(Path(tmp))
        every: list[RecoveryPoint] = []
        for capture_h, duration_h, by_drkit, listed in events:
            capture = at(0, capture_h)
            if by_drkit:
                finished = capture + timedelta(hours=duration_h)
                sid = history.backup(capture, finished, listed=listed)
                every.append(RecoveryPoint(capture, finished, sid))
            elif listed:
                history.manual(capture)
                every.append(RecoveryPoint(capture, None))
        history.list()
        period = Period(at(0, start_h), at(0, start_h + length_h))
        rows = history.catalog.recovery_point_rows("db", period.since)
        bounded = [RecoveryPoint(r.time, r.completion, r.id) for r in rows]
        expected = replace(rpo_analysis(every, period, 25 * H), ignored_future=[])
        assert replace(rpo_analysis(bounded, period, 25 * H), ignored_future=[]) == expected
        history.catalog.close()


def test_a_forged_record_cannot_invent_a_recovery_point(history):
    history.backup(at(-1, 2), at(-1, 2.5))
    history.list()
    forged = Record(kind="backup", policy="db", started_at=at(5), finished_at=at(5, 0.5), result="pass",
                    snapshot_id="ee" * 32, snapshot_time=at(5), bytes=1,
                    key_id=history.key.key_id, signature="AAAA")
    history.catalog.add_record(forged)
    report = history.report(at(0), at(10)).policies[0]
    # only the real Dec 31 snapshot counts: exposure passes 25 h on Jan 1 03:00 and stays above
    assert report.rpo.breach_windows[0].start == at(0, 3) and report.rpo.breach_windows[0].end == at(10)
    assert not any("no longer in the repository" in c for c in report.caveats)
    assert report.evidence.records == 1 and report.evidence.verified == 0


def test_partial_backups_are_flagged_and_never_hide_the_last_complete_point(tmp_path):
    """Every point says whether its backup was partial; the last complete one is always among them."""
    history = History(tmp_path)
    since = datetime(2026, 3, 20, tzinfo=timezone.utc)
    complete = history.backup(since - timedelta(days=10), since - timedelta(days=10) + timedelta(minutes=5))
    partial = history.backup(since - timedelta(days=9), since - timedelta(days=9) + timedelta(minutes=5),
                             result="partial")
    recent = history.backup(since + timedelta(hours=1), since + timedelta(hours=1, minutes=5), result="partial")
    history.list()
    every = {r.id: r.partial for r in history.catalog.recovery_point_rows("db", since)}
    assert every == {complete: False, partial: True, recent: True}
    rows = history.catalog.recovery_point_rows("db", since, accept_partial=False)
    assert {r.id: r.partial for r in rows if not r.partial} == {complete: False}  # the model drops the partial ones
