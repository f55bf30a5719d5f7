"""`drkit policy validate`: which policy files are valid, every problem with its file and line, and
schedules that cannot keep their promise (warnings; errors with --strict)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drkit.core.durations import format_duration
from drkit.core.errors import PolicyError, Problem
from drkit.core.feasibility import rpo_feasibility
from drkit.core.jsonshape import JsonDocument
from drkit.core.outcome import SNAPSHOT_RESULTS
from drkit.core.policy import LoadedPolicy, scan_policies
from drkit.engines.catalog import Catalog


@dataclass(frozen=True)
class ScheduleWarning:
    """A schedule that cannot meet the RPO or cannot run at all; `str()` is the line printed."""

    file: str
    policy: str
    path: str  # the schedule key, e.g. schedule.backup
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path} {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "policy": self.policy, "path": self.path, "message": self.message}


@dataclass(frozen=True)
class PolicyValidation(JsonDocument, schema="drkit.policy-validation/1"):
    valid: list[LoadedPolicy]  # files without a problem
    problems: list[Problem]
    warnings: list[ScheduleWarning]
    strict: bool = False  # warnings count as errors

    @property
    def ok(self) -> bool:
        return not self.problems and not (self.strict and self.warnings)

    def json_fields(self) -> dict:
        return {"ok": self.ok, "strict": self.strict,
                "policies": [{"file": str(item.file), "name": item.name} for item in self.valid],
                "problems": [p.as_dict() for p in self.problems],
                "warnings": [w.as_dict() for w in self.warnings]}


def schedule_warnings(policies: list[LoadedPolicy], catalog: Catalog | None) -> list[ScheduleWarning]:
    """Interval + p95 measured backup duration beyond the RPO, or a forget schedule without retention."""
    found = []
    for item in policies:
        durations = ([r.duration_s for r in catalog.records(item.name, "backup") if r.result in SNAPSHOT_RESULTS]
                     if catalog is not None else [])
        feasibility = rpo_feasibility(item.policy, durations)
        if feasibility.feasible is False:
            found.append(ScheduleWarning(str(item.file), item.name, "schedule.backup",
                                         f"'{item.policy.schedule.backup.text}' {feasibility.message}"))
        if item.policy.schedule.forget is not None and item.policy.retention.is_empty():
            found.append(ScheduleWarning(str(item.file), item.name, "schedule.forget",
                                         "is set but there is no retention section; every forget run would fail"))
        if item.policy.schedule.phrase("copy") is not None and len(item.policy.repositories) < 2:
            found.append(ScheduleWarning(str(item.file), item.name, "schedule.copy",
                                         "is set but the policy has one repository; list a copy under "
                                         "`repositories:` (docs/repositories.md)"))
    return found


def plan_warnings(policies: list[LoadedPolicy], catalog: Catalog | None,
                  state_dir: Path) -> tuple[list[Problem], list[ScheduleWarning]]:
    """The recovery order across policies (docs/recovery.md, "Recovery plan"): a dependency cycle is
    a problem; a dependency on an unknown policy, and a system the order brings back after its RTO
    (measured drill times), are warnings."""
    from drkit.core.recovery_plan import unknown_dependencies
    from drkit.evidence.records import now_utc
    from drkit.views.recovery_plan import plan_timeline

    if not any(item.policy.business.depends_on for item in policies):
        return [], []
    names = {str(item.file): item.name for item in policies}
    warnings = [ScheduleWarning(str(p.file), names.get(str(p.file), ""), "business.depends_on", p.message)
                for p in unknown_dependencies(policies)]
    try:
        steps = plan_timeline(policies, catalog, state_dir, now_utc())
    except PolicyError as exc:
        return exc.problems, warnings
    for step in steps:
        if step.misses_rto:
            warnings.append(ScheduleWarning(
                str(step.item.file), step.item.name, "business.depends_on",
                f"puts {step.item.name} back as system {step.position} of {len(steps)}, after "
                f"{'at least ' if step.lower_bound else ''}{format_duration(step.done_after_s)}: over its RTO "
                f"{format_duration(step.rto_s)} (drkit runbook --all shows the timeline)"))
    return [], warnings


def validate_policies(paths: list[Path], state_dir: Path, *, strict: bool = False) -> PolicyValidation:
    """Load every file, keep every problem; measured backup durations come from the catalog when
    one exists (validating must not create a state directory)."""
    scan = scan_policies(paths)
    loaded, problems = scan.loaded, scan.problems
    broken = {p.file for p in problems}
    valid = [item for item in loaded if str(item.file) not in broken]
    path = state_dir / "catalog.sqlite"
    catalog = Catalog(path) if path.exists() else None
    try:
        warnings = schedule_warnings(valid, catalog)
        order_problems, order_warnings = plan_warnings(valid, catalog, state_dir)
    finally:
        if catalog is not None:
            catalog.close()
    broken = {p.file for p in order_problems}
    return PolicyValidation([item for item in valid if str(item.file) not in broken], problems + order_problems,
                            warnings + order_warnings, strict)
