"""The guardrail's marks read from the evidence table (drkit/engines/catalog/guard.py) and what
they ask of `forget` (drkit/jobs/guard.py): which snapshots block it and which it must keep."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from report_builders import make_policy

from drkit.engines.catalog import Catalog, SnapshotRow
from drkit.engines.restic.output import Snapshot
from drkit.evidence.records import Record
from drkit.jobs.guard import backup_ids, forget_guard

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
MEASURED = {"data_added": 1, "files_new": 0, "files_changed": 0, "paths": ["/srv"], "manifest": "/m",
            "manifest_files": 1, "manifest_sha256": "0" * 64, "hashed_bytes": 1, "restic_duration_s": 1.0}


def sid(n: int) -> str:
    return f"{n:064x}"


def fill(catalog: Catalog, suspicious: set[int], count: int = 6) -> None:
    """Backups 1..count an hour apart (those in `suspicious` marked), all listed."""
    for n in range(1, count + 1):
        at = T0 + timedelta(hours=n)
        guard = {"suspicious": n in suspicious, "reasons": [f"reason {n}"] if n in suspicious else []}
        catalog.add_record(Record(kind="backup", policy="db", started_at=at, finished_at=at, result="pass",
                                  snapshot_id=sid(n), snapshot_time=at, measured={**MEASURED, "guard": guard}))
    catalog.replace_snapshots("db", [SnapshotRow("db", sid(n), T0 + timedelta(hours=n), "h", [])
                                     for n in range(1, count + 1)])


def accept(catalog: Catalog, *numbers: int) -> None:
    at = T0 + timedelta(days=1)
    catalog.add_record(Record(kind="forget", policy="db", started_at=at, finished_at=at, result="breach",
                              measured={"accepted_suspicious": [sid(n) for n in numbers]}))


def test_marks_come_from_the_signed_backup_records_and_acceptances_from_forget_records(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    fill(catalog, {3, 6})
    assert [(m.snapshot_id, m.reasons, m.accepted) for m in catalog.suspicious_marks("db")] == [
        (sid(3), ["reason 3"], False), (sid(6), ["reason 6"], False)]
    accept(catalog, 3)
    assert [m.snapshot_id for m in catalog.open_suspicious("db")] == [sid(6)]
    catalog.replace_snapshots("db", [])          # forgotten since: nothing left to block
    catalog.replace_snapshots("db", [SnapshotRow("db", sid(1), T0, "h", [])])
    assert catalog.open_suspicious("db") == []


def test_forget_is_blocked_by_an_older_unreviewed_mark_and_keeps_the_newest_clean_snapshots(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    fill(catalog, {4})
    listed = [sid(n) for n in range(1, 7)]
    guard = forget_guard(catalog, make_policy(), listed, [])
    assert [m.snapshot_id for m in guard.blocking] == [sid(4)]      # two clean-looking backups came after it
    assert guard.protected == (sid(3), sid(5), sid(6))              # the suspicious one is never "clean"
    assert forget_guard(catalog, make_policy(), listed, [sid(4)]).refusal("db") is None
    accept(catalog, 4)
    assert forget_guard(catalog, make_policy(), listed, []).protected == (sid(3), sid(5), sid(6))
    off = make_policy(guard={"enabled": False})
    assert forget_guard(catalog, off, listed, []).protected == ()
    assert forget_guard(catalog, make_policy(guard={"keep_clean": 0}), listed, [sid(4)]).protected == ()


def copied(n: int, original: int | None) -> Snapshot:
    """Snapshot `n` of a copy repository, made by restic copy from backup `original`."""
    return Snapshot(id=f"c{n:063x}", short_id=f"c{n:07x}", time=T0 + timedelta(hours=n), paths=["/srv"],
                    original=sid(original) if original is not None else None)


def test_a_copys_snapshots_are_judged_by_the_backup_they_came_from(tmp_path: Path) -> None:
    """Marks and keep_clean name the first repository's ids; a copy maps its own through `original`
    (docs/guard.md), and the protected ones come back as the copy's ids."""
    catalog = Catalog(tmp_path / "catalog.sqlite")
    fill(catalog, {4})
    listing = [copied(n, n) for n in (2, 3, 4, 5)] + [copied(9, None)]   # backup 6 not copied yet; a manual one
    ids = backup_ids(listing, copy=True)
    assert list(ids.values()) == [sid(2), sid(3), sid(4), sid(5), listing[-1].id]
    guard = forget_guard(catalog, make_policy(), list(ids.values()), [])
    assert [m.snapshot_id for m in guard.blocking] == [sid(4)]           # the copy of a suspicious backup blocks
    assert guard.protecting(ids) == [listing[1].id, listing[3].id, listing[4].id]  # copy ids, oldest first
    assert forget_guard(catalog, make_policy(), [sid(2), sid(3)], []).blocking == ()  # not copied: not in the way
    # the first repository's own listing is taken by id, whatever `original` says
    first = [Snapshot(id=sid(n), short_id=sid(n)[:8], time=T0, paths=[], original=sid(1)) for n in (2, 3)]
    assert backup_ids(first, copy=False) == {sid(2): sid(2), sid(3): sid(3)}


def test_reports_and_status_flag_the_marked_backups(tmp_path: Path) -> None:
    from drkit.core.compliance import Period
    from drkit.views.report import as_json, html, table
    from drkit.views.report.gather import collect_report
    from drkit.views.report.prometheus import render
    from drkit.views.status import policy_status

    catalog = Catalog(tmp_path / "catalog.sqlite")
    fill(catalog, {5})
    until = T0 + timedelta(days=2)
    report = collect_report(catalog, tmp_path, [make_policy()], Period(T0, until), until)
    [policy] = report.policies
    assert [m.snapshot_id for m in policy.suspicious] == [sid(5)]
    caveat = f"suspicious backup {sid(5)[:8]} at 2026-03-01T05:00:00.000000Z, not reviewed: forget is blocked: reason 5"
    assert any(c.startswith(caveat) for c in policy.caveats)
    assert caveat in html.render(report) and caveat in table.render_text(report).replace("\n", " ")
    assert '"accepted": false' in as_json.render(report) and sid(5) in as_json.render(report)

    status = policy_status(catalog, tmp_path, make_policy(), until)
    assert status.suspicious == (sid(5),) and "SUSPICIOUS" in status.problems
    assert 'drkit_suspicious_snapshots{policy="db"} 1' in render([status], until.timestamp())
    accept(catalog, 5)
    assert policy_status(catalog, tmp_path, make_policy(), until).problems == [
        p for p in status.problems if p != "SUSPICIOUS"]
