"""Repository integrity: `restic check` with a rotating `--read-data-subset n/m`.

Plain `restic check` never reads pack data, so a flipped byte in a data pack goes unnoticed until
a restore needs it. Reading everything every time is too slow for nightly runs; rotating through
m subsets (n = the last check's n + 1) reads every pack once per m checks at 1/m of the cost.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from drkit.core import errors
from drkit.core.policy import Policy
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record, now_utc

log = logging.getLogger("drkit")

ROTATION = 12
_FRACTION = re.compile(r"^(\d+)/(\d+)$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")


@dataclass(frozen=True)
class Subset:
    """What `--read-data-subset` gets ('3/12', '5%'), or None for a structure-only check."""

    arg: str | None
    n: int | None = None
    m: int | None = None

    def as_measured(self) -> dict:
        return {"read_data_subset": self.arg or "none", "subset_n": self.n, "subset_m": self.m}


def parse_subset(text: str) -> Subset:
    """`n/m`, `P%`, `all` (every pack) or `none` (structure only); ValueError naming the forms."""
    value = text.strip().lower()
    if value == "all":
        return Subset("100%")
    if value == "none":
        return Subset(None)
    match = _FRACTION.match(value)
    if match:
        n, m = int(match.group(1)), int(match.group(2))
        if 1 <= n <= m:
            return Subset(f"{n}/{m}", n, m)
    match = _PERCENT.match(value)
    if match and 0 < float(match.group(1)) <= 100:
        return Subset(value)
    raise ValueError(f"--read-data-subset {text!r}: use n/m (1 <= n <= m, e.g. 3/12), a percentage (5%), all or none")


def next_subset(last_measured: dict | None, m: int = ROTATION) -> Subset:
    """The rotation step after the last check's: 1/m, 2/m, …, m/m, 1/m, …"""
    n = 0
    if last_measured and last_measured.get("subset_m") == m and isinstance(last_measured.get("subset_n"), int):
        n = last_measured["subset_n"]
    n = n % m + 1
    return Subset(f"{n}/{m}", n, m)


@dataclass
class CheckOutcome:
    policy: str
    status: str  # ok | failed | interrupted | locked
    subset: Subset | None = None
    record: Record | None = None
    error: errors.DrkitError | None = None
    problems: list[str] | None = None

    @property
    def exit_code(self) -> int:
        if self.status == "ok":
            return 0
        return int(self.error.exit_code) if self.error is not None else 1


def run_check(ws: Workspace, policy: Policy, *, subset: Subset | None = None) -> CheckOutcome:
    """Check the policy's repository under its lock; damage is exit 4, failing to check is exit 1."""
    try:
        lock = ws.lock(policy.name, "check").acquire()
    except errors.LockedError as exc:
        return CheckOutcome(policy.name, "locked", error=exc)
    try:
        return _check_locked(ws, policy, subset or _rotation(ws, policy.name))
    finally:
        lock.release()


def _rotation(ws: Workspace, policy: str) -> Subset:
    """Continue from the last check that actually read its subset (pass or fail, not an error)."""
    last = ws.catalog.last_record(policy, "check", ["pass", "fail"])
    return next_subset(last.measured if last else None)


def _check_locked(ws: Workspace, policy: Policy, subset: Subset) -> CheckOutcome:
    started = now_utc()
    restic_version = ""
    try:
        restic = ws.restic(policy)
        restic_version = ".".join(map(str, restic.version()))
        report = restic.check(read_data_subset=subset.arg)
    except errors.DrkitError as exc:
        interrupted = isinstance(exc, errors.Interrupted)
        record = _record(ws, policy, started, "interrupted" if interrupted else "error", restic_version, subset,
                         [str(exc)])
        return CheckOutcome(policy.name, "interrupted" if interrupted else "failed", subset, record, exc)
    phases = {"check": (now_utc() - started).total_seconds()}
    if report.damaged:
        exc = errors.RepositoryDamaged(f"{policy.name}: repository damaged (read subset {subset.arg or 'none'}): "
                                       f"{report.problems[0]}" + (f" (+{len(report.problems) - 1} more)"
                                                                  if len(report.problems) > 1 else ""),
                                       hint="see `restic check` output; restore from another copy or repair")
        record = _record(ws, policy, started, "fail", restic_version, subset, report.problems, phases)
        return CheckOutcome(policy.name, "failed", subset, record, exc, report.problems)
    record = _record(ws, policy, started, "pass", restic_version, subset, [], phases)
    return CheckOutcome(policy.name, "ok", subset, record)


def _record(ws: Workspace, policy: Policy, started, result: str, restic_version: str, subset: Subset,
            problems: list[str], phases: dict[str, float] | None = None) -> Record | None:
    record = Record(kind="check", policy=policy.name, started_at=started, finished_at=now_utc(), result=result,
                    restic_version=restic_version, phases=phases or {}, measured=subset.as_measured(),
                    errors=problems[:100])
    try:
        return ws.record(policy, record)
    except Exception as exc:  # noqa: BLE001 - the check's own outcome must still be reported
        log.warning("could not record evidence for %s: %s", policy.name, exc)
        return None
