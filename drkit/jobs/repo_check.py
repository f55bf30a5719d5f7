"""Repository integrity: `restic check` with a rotating `--read-data-subset n/m`.

Plain `restic check` never reads pack data, so a flipped byte in a data pack goes unnoticed until
a restore needs it. Reading everything every time is too slow for nightly runs; rotating through
m subsets (n = the last check's n + 1) reads every pack once per m checks at 1/m of the cost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from drkit.core import errors
from drkit.core.policy import Policy
from drkit.engines.workspace import Workspace
from drkit.evidence.payloads import CheckMeasured, measured_of
from drkit.jobs.lifecycle import RunContext, RunOutcome, register_job, run_locked

ROTATION = 12
_FRACTION = re.compile(r"^(\d+)/(\d+)$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")


@dataclass(frozen=True)
class Subset:
    """What `--read-data-subset` gets ('3/12', '5%'), or None for a structure-only check."""

    arg: str | None
    n: int | None = None
    m: int | None = None

    def as_measured(self) -> CheckMeasured:
        return CheckMeasured(read_data_subset=self.arg or "none", subset_n=self.n, subset_m=self.m)


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


def next_subset(last: CheckMeasured | None, m: int = ROTATION) -> Subset:
    """The rotation step after the last check's: 1/m, 2/m, …, m/m, 1/m, …"""
    n = 0
    if last is not None and last.subset_m == m and last.subset_n is not None:
        n = last.subset_n
    n = n % m + 1
    return Subset(f"{n}/{m}", n, m)


@dataclass
class CheckDetail:
    subset: Subset
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"read_data_subset": self.subset.arg or "none", "problems": self.problems}


def run_check(ws: Workspace, policy: Policy, *, subset: Subset | None = None) -> RunOutcome:
    """Check the policy's repository under its lock; damage is exit 4, failing to check is exit 1."""
    return run_locked(ws, policy, "check", lambda ctx: _check(ctx, subset))


def _rotation(ws: Workspace, policy: str) -> Subset:
    """Continue from the last check that actually read its subset (pass or fail, not an error)."""
    last = ws.catalog.last_record(policy, "check", ["pass", "fail"])
    return next_subset(measured_of(last, CheckMeasured) if last else None)


def _check(ctx: RunContext, subset: Subset | None) -> None:
    subset = subset or _rotation(ctx.ws, ctx.policy.name)
    ctx.detail, ctx.measured = CheckDetail(subset), subset.as_measured()
    restic = ctx.restic()
    with ctx.phase("check"):
        report = restic.check(read_data_subset=subset.arg)
    if report.damaged:
        ctx.problems = ctx.detail.problems = report.problems[:100]
        raise errors.RepositoryDamaged(f"{ctx.policy.name}: repository damaged (read subset {subset.arg or 'none'}): "
                                       f"{report.problems[0]}" + (f" (+{len(report.problems) - 1} more)"
                                                                  if len(report.problems) > 1 else ""),
                                       hint="see `restic check` output; restore from another copy or repair")


def describe(outcome: RunOutcome) -> str:
    if isinstance(outcome.detail, CheckDetail):
        return f"check {outcome.status}: read data subset {outcome.detail.subset.arg or 'none'}"
    return f"check {outcome.status}"


register_job("check", lambda ws, policy, _file: run_check(ws, policy), describe)
