"""The ransomware guardrail's judgement (docs/guard.md): pure and clock-free.

Ransomware that encrypts files in place, or deletes them, still produces a "successful" backup,
and retention then thins out the clean snapshots one night at a time. restic's backup summary
says how much of the tree changed; compared with the policy's recent backups, a mass change or a
shrink marks the new snapshot suspicious, and `forget` keeps the clean history until a person
has looked (drkit/jobs/forget.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import median

from drkit.core.policy import Guard

# "An unchanged file count" for the added-bytes signal: within this fraction of the baseline's.
# Encryption that renames every file (`x.docx` -> `x.docx.locked`) shows as all-new files of
# the same count, so the signal looks at the count, not at files_new.
SAME_COUNT = 0.10


@dataclass(frozen=True)
class BackupFigures:
    """What restic's backup summary says about one backup (docs/guard.md, "Figures")."""

    files: int          # total_files_processed
    bytes: int          # total_bytes_processed
    files_new: int
    files_changed: int
    data_added: int

    @property
    def has_parent(self) -> bool:
        """Whether some file was already in the previous snapshot (a first backup has none)."""
        return self.files > self.files_new

    @property
    def changed_fraction(self) -> float | None:
        """Share of the files already backed up that changed; None without a parent."""
        known = self.files - self.files_new
        return self.files_changed / known if known > 0 else None

    @property
    def added_ratio(self) -> float:
        return self.data_added / self.bytes if self.bytes > 0 else 0.0


@dataclass(frozen=True)
class PastBackup:
    """A backup already judged: its figures, whether it was suspicious and whether someone
    accepted it (`drkit forget NAME --accept-suspicious ID`)."""

    figures: BackupFigures
    suspicious: bool = False
    accepted: bool = False


@dataclass(frozen=True)
class Verdict:
    """The judgement of one backup: the signals that fired and the figures behind them."""

    suspicious: bool
    signals: tuple[str, ...]        # mass_change, bytes_added, shrink_bytes, shrink_files
    reasons: tuple[str, ...]        # one sentence per signal, with the figures
    baseline_backups: int           # how many backups formed the baseline (0: nothing to compare with)
    baseline_files: int = 0
    baseline_bytes: int = 0
    changed_percent: float | None = None
    added_ratio: float = 0.0


def baseline(newest_first: Iterable[PastBackup], size: int) -> list[BackupFigures]:
    """The recent clean backups to compare with, newest first: suspicious ones that nobody
    accepted are skipped (the attack must not become the norm), and an accepted one ends the
    window, because accepting says "this is the new normal" (a planned clean-up)."""
    chosen: list[BackupFigures] = []
    for past in newest_first:
        if len(chosen) >= size:
            break
        if past.suspicious and not past.accepted:
            continue
        chosen.append(past.figures)
        if past.accepted:
            break
    return chosen


def judge(current: BackupFigures, history: Sequence[BackupFigures], guard: Guard) -> Verdict:
    """Judge one backup against its baseline (`baseline()`); never suspicious without one."""
    if not history:
        return Verdict(False, (), (), 0, changed_percent=_percent(current.changed_fraction),
                       added_ratio=current.added_ratio)
    base_files = int(median(h.files for h in history))
    base_bytes = int(median(h.bytes for h in history))
    found = [*_mass_change(current, history, guard), *_bytes_added(current, history, guard, base_files),
             *_shrink(current, guard, base_files, base_bytes)]
    return Verdict(bool(found), tuple(s for s, _ in found), tuple(r for _, r in found), len(history),
                   base_files, base_bytes, _percent(current.changed_fraction), current.added_ratio)


def _mass_change(current: BackupFigures, history: Sequence[BackupFigures], guard: Guard) -> list[tuple[str, str]]:
    fraction = current.changed_fraction
    limit = guard.changed_files_percent / 100
    if fraction is None or fraction <= limit or not _calm(history, lambda h: h.changed_fraction, limit):
        return []
    return [("mass_change", f"{fraction:.0%} of the files already backed up changed "
                            f"(guard.changed_files_percent {guard.changed_files_percent:g})")]


def _bytes_added(current: BackupFigures, history: Sequence[BackupFigures], guard: Guard,
                 base_files: int) -> list[tuple[str, str]]:
    ratio = current.added_ratio
    if ratio <= guard.added_bytes_ratio:
        return []
    if abs(current.files - base_files) > SAME_COUNT * base_files:
        return []  # many more or fewer files: a shrink or an import, not a rewrite in place
    if not _calm(history, lambda h: h.added_ratio if h.has_parent else None, guard.added_bytes_ratio):
        return []
    return [("bytes_added", f"data added is {ratio:.2f} of the bytes backed up for about the same {current.files} "
                            f"files (guard.added_bytes_ratio {guard.added_bytes_ratio:g})")]


def _shrink(current: BackupFigures, guard: Guard, base_files: int, base_bytes: int) -> list[tuple[str, str]]:
    keep = 1 - guard.shrink_percent / 100
    found = []
    if current.bytes < base_bytes * keep:
        found.append(("shrink_bytes", f"{current.bytes} bytes against a baseline of {base_bytes} "
                                      f"(-{_drop(current.bytes, base_bytes):.0f} %, guard.shrink_percent "
                                      f"{guard.shrink_percent:g})"))
    if current.files < base_files * keep:
        found.append(("shrink_files", f"{current.files} files against a baseline of {base_files} "
                                      f"(-{_drop(current.files, base_files):.0f} %, guard.shrink_percent "
                                      f"{guard.shrink_percent:g})"))
    return found


def _calm(history: Sequence[BackupFigures], value, limit: float) -> bool:
    """Whether the baseline usually stays within `limit`: only then is exceeding it a signal. A
    policy of database dumps changes every file every night, so that is its normal, not an
    attack; and a baseline of first backups only (no parent, `value` None) says nothing about
    the normal rate yet, so the change signals wait for one ordinary backup."""
    values = [v for v in map(value, history) if v is not None]
    return bool(values) and median(values) <= limit


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else round(fraction * 100, 1)


def _drop(now: int, before: int) -> float:
    return 100 * (before - now) / before if before else 0.0
