"""The HTML evidence list: everything notable, plus only the newest routine passing backups."""

from datetime import datetime, timedelta, timezone

from drkit.evidence.records import Record
from drkit.views.report.html import ROUTINE_LISTED, _evidence_rows
from drkit.views.report.model import EvidenceItem

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def item(n: int, kind: str = "backup", result: str = "pass", problem: str | None = None) -> EvidenceItem:
    at = T0 + timedelta(minutes=15 * n)
    return EvidenceItem(parsed=Record(kind=kind, policy="p", started_at=at, finished_at=at, result=result),
                        problem=problem)


def test_small_lists_are_shown_whole_in_time_order():
    items = [item(2), item(1, "drill"), item(0)]
    rows = _evidence_rows(items)
    assert rows["evidence_omitted"] == 0
    assert [i.record.finished_at for i in rows["evidence_items"]] == sorted(i.record.finished_at for i in items)


def test_old_routine_backups_are_summarised_but_nothing_notable_is_dropped():
    routine = [item(n) for n in range(ROUTINE_LISTED + 50)]
    notable = [item(3, "drill"), item(5, "backup", "error"), item(7, "check"), item(9, problem="signature bad"),
               item(11, "backup", "missed")]
    rows = _evidence_rows(routine + notable)
    shown = rows["evidence_items"]
    assert rows["evidence_omitted"] == 50
    assert len(shown) == ROUTINE_LISTED + len(notable)
    assert all(n in shown for n in notable)
    assert routine[-1] in shown and routine[0] not in shown
