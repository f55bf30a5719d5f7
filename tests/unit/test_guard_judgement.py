"""The ransomware guardrail's judgement (drkit/core/guard.py, docs/guard.md): properties over
restic backup summaries, the baseline window, the forget plan that spares clean snapshots, and
the distinct notification event."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from drkit.core import errors
from drkit.core.guard import BackupFigures, PastBackup, baseline, judge
from drkit.core.outcome import RunStatus
from drkit.core.policy import Guard
from drkit.engines.catalog import SuspiciousMark
from drkit.evidence.records import Record
from drkit.jobs.forget import ForgetResult
from drkit.jobs.guard import ForgetGuard, accept
from drkit.jobs.lifecycle import RunOutcome
from drkit.notify import outcome_message
from drkit.notify.healthcheck import _SUFFIX

GUARD = Guard()
T0 = datetime(2026, 3, 4, 1, 30, tzinfo=timezone.utc)

files_st = st.integers(min_value=20, max_value=100_000)
size_st = st.integers(min_value=1_000, max_value=64 * 1024)   # mean bytes per file


def steady(files: int, size: int, changed: int = 0, added: int = 0) -> BackupFigures:
    """A backup of the same tree as its parent: `changed` files rewritten, `added` bytes new."""
    return BackupFigures(files=files, bytes=files * size, files_new=0, files_changed=changed, data_added=added)


@st.composite
def quiet_history(draw) -> tuple[int, int, list[BackupFigures]]:
    """A few ordinary backups: at most 10 % of the files changed, little data added."""
    files, size = draw(files_st), draw(size_st)
    history = [steady(files, size, draw(st.integers(0, files // 10)), draw(st.integers(0, files * size // 20)))
               for _ in range(draw(st.integers(1, 5)))]
    return files, size, history


@given(quiet_history())
def test_a_backup_like_its_history_is_never_suspicious(case) -> None:
    files, size, history = case
    for past in history:
        assert not judge(past, history, GUARD).suspicious


@given(quiet_history(), st.floats(0.9, 1.0))
def test_every_file_encrypted_in_place_is_a_mass_change(case, share: float) -> None:
    files, size, history = case
    encrypted = steady(files, size, changed=int(files * share) + 1, added=files * size)
    verdict = judge(encrypted, history, GUARD)
    assert verdict.suspicious and "mass_change" in verdict.signals and "bytes_added" in verdict.signals
    assert verdict.baseline_files == files and verdict.changed_percent > 50


@given(quiet_history())
def test_encrypted_and_renamed_files_are_caught_by_the_bytes_added(case) -> None:
    """`x.docx` -> `x.docx.locked`: restic sees all-new files of the same count, none changed."""
    files, size, history = case
    renamed = BackupFigures(files=files, bytes=files * size, files_new=files, files_changed=0, data_added=files * size)
    verdict = judge(renamed, history, GUARD)
    assert verdict.signals == ("bytes_added",)


@given(quiet_history(), st.floats(0.0, 0.99))
def test_shrinking_is_flagged_exactly_past_the_threshold_and_more_never_unflags(case, keep: float) -> None:
    files, size, history = case
    base_bytes = judge(history[0], history, GUARD).baseline_bytes
    smaller = dataclasses.replace(history[0], bytes=int(base_bytes * keep))
    flagged = "shrink_bytes" in judge(smaller, history, GUARD).signals
    assert flagged == (smaller.bytes < base_bytes * 0.5)
    if flagged:
        assert "shrink_bytes" in judge(dataclasses.replace(smaller, bytes=smaller.bytes // 2), history, GUARD).signals


@given(files_st, size_st)
def test_without_history_nothing_is_suspicious(files: int, size: int) -> None:
    wild = BackupFigures(files=files, bytes=files * size, files_new=0, files_changed=files, data_added=files * size)
    assert judge(wild, [], GUARD).suspicious is False


def test_a_policy_whose_files_always_change_is_not_flagged_for_changing_again() -> None:
    """Database dumps change every night: that is this policy's normal, so only a shrink counts."""
    dumps = [steady(3, 10_000_000, changed=3, added=29_000_000) for _ in range(3)]
    assert not judge(steady(3, 10_000_000, changed=3, added=30_000_000), dumps, GUARD).suspicious
    assert judge(steady(3, 1_000_000, changed=3, added=3_000_000), dumps, GUARD).signals == ("shrink_bytes",)


def test_an_ordinary_ten_percent_day_and_the_thresholds_from_the_policy() -> None:
    history = [steady(100, 10_000)]
    day = steady(100, 10_000, changed=10, added=100_000)
    assert not judge(day, history, GUARD).suspicious
    strict = Guard(changed_files_percent=5)
    assert judge(day, history, strict).signals == ("mass_change",)


def test_the_change_signals_wait_for_one_ordinary_backup_after_the_first() -> None:
    """A first backup adds everything, so it says nothing about the normal change rate: a new
    policy of database dumps (every file changes every night) must not be flagged on its second
    backup. From one ordinary backup on, a mass change is a signal; shrinking is from the start."""
    first = BackupFigures(files=100, bytes=1_000_000, files_new=100, files_changed=0, data_added=1_000_000)
    encrypted = steady(100, 10_000, changed=100, added=1_000_000)
    assert judge(encrypted, [first], GUARD).signals == ()
    assert set(judge(encrypted, [steady(100, 10_000), first], GUARD).signals) == {"mass_change", "bytes_added"}
    assert judge(steady(10, 10_000), [first], GUARD).signals == ("shrink_bytes", "shrink_files")


def figures(files: int) -> BackupFigures:
    return steady(files, 1000)


def test_the_baseline_skips_unreviewed_suspicious_backups_and_restarts_at_an_accepted_one() -> None:
    newest_first = [PastBackup(figures(1), suspicious=True), PastBackup(figures(2)), PastBackup(figures(3)),
                    PastBackup(figures(4), suspicious=True, accepted=True), PastBackup(figures(5))]
    assert [f.files for f in baseline(newest_first, 10)] == [2, 3, 4]
    assert [f.files for f in baseline(newest_first, 1)] == [2]


@settings(max_examples=50)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=12), st.integers(1, 6))
def test_the_baseline_never_holds_an_unreviewed_suspicious_backup(flags, size: int) -> None:
    past = [PastBackup(figures(i + 1), suspicious, accepted) for i, (suspicious, accepted) in enumerate(flags)]
    chosen = {f.files for f in baseline(past, size)}
    assert len(chosen) <= size
    assert not {p.figures.files for p in past if p.suspicious and not p.accepted} & chosen


def test_guard_thresholds_are_validated() -> None:
    with pytest.raises(ValidationError):
        Guard(changed_files_percent=0)
    with pytest.raises(ValidationError):
        Guard(shrink_percent=150)
    with pytest.raises(ValidationError, match="true: expected a number"):
        Guard(added_bytes_ratio=True)
    assert (GUARD.changed_files_percent, GUARD.added_bytes_ratio, GUARD.shrink_percent, GUARD.keep_clean) == \
        (50, 0.9, 50, 3)


# --- forget ----------------------------------------------------------------------------------------

def mark(sid: str, accepted: bool = False) -> SuspiciousMark:
    return SuspiciousMark(sid * 64, T0, ["95% of the files already backed up changed"], accepted)


def test_the_forget_plan_spares_the_protected_snapshots() -> None:
    plan = ForgetResult(kept=["d"], removed=["a", "b", "c"])
    assert plan.sparing(["b", "c", "d"]) == ForgetResult(kept=["b", "c", "d"], removed=["a"])


def test_forget_refusal_names_the_snapshot_and_the_way_out() -> None:
    text = ForgetGuard((mark("e"),), ()).refusal("shop")
    assert text.startswith("snapshot eeeeeeee is marked suspicious: 95% of the files")
    assert text.endswith("drkit forget shop --accept-suspicious eeeeeeee")
    assert ForgetGuard((), ("a",)).refusal("shop") is None


def test_accepting_takes_a_prefix_of_a_marked_snapshot_only() -> None:
    marks = [mark("e"), mark("f")]
    assert accept(marks, ["EEEE"], "shop") == ["e" * 64]
    with pytest.raises(errors.UsageError, match="is not a snapshot the guardrail marked .suspicious snapshots: "
                                                "eeeeeeee, ffffffff"):
        accept(marks, ["abcd"], "shop")


# --- notification ----------------------------------------------------------------------------------

def test_a_suspicious_backup_notifies_its_own_event_and_fails_a_healthcheck() -> None:
    record = Record(kind="backup", policy="shop", started_at=T0, finished_at=T0 + timedelta(seconds=5),
                    result="pass", snapshot_id="ab" * 32)
    outcome = RunOutcome("shop", "backup", RunStatus.OK, None, record, T0, T0 + timedelta(seconds=5),
                         notice="backup_suspicious")
    message = outcome_message("shop", "backup", outcome)
    assert (message.event, message.status, message.exit_code) == ("backup_suspicious", "ok", 0)
    assert message.summary() == "drkit shop backup SUSPICIOUS"
    assert _SUFFIX["backup_suspicious"] == "/fail"
