"""The report as JSON (`drkit.report/1`): fractions 0..1, seconds as numbers, times ISO 8601 UTC,
null when undefined.

The shape is documented in docs/json.md; consumers rely on it, so add keys, never rename.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from drkit.core.compliance import Projection
from drkit.core.jsonshape import dumps
from drkit.evidence.records import utc_text
from drkit.views.report.formats import register_format
from drkit.views.report.model import DrillPoint, InForce, PolicyReport, Report, RpoFigures


def when(moment: datetime | None) -> str | None:
    return utc_text(moment) if moment is not None else None


def number(value: float | None) -> float | None:
    """JSON has no infinity: an unbounded figure is null (its caveat says why)."""
    if value is None or math.isinf(value) or math.isnan(value):
        return None
    return value


def rpo_dict(rpo: RpoFigures) -> dict[str, Any]:
    return {
        "target_s": rpo.target_s,
        "attainment": rpo.attainment,
        "breach_seconds": rpo.breach_seconds,
        "worst_exposure_s": number(rpo.worst_exposure_s),
        "current_exposure_s": number(rpo.current_exposure_s),
        "breach_windows": [{"start": when(w.start), "end": when(w.end)} for w in rpo.breach_windows],
    }


def in_force_dict(in_force: InForce) -> dict[str, Any]:
    return {"from": when(in_force.since), "source": in_force.source, "coverage": in_force.coverage}


def projection_dict(projection: Projection | None, basis: str | None) -> dict[str, Any]:
    """Every key always present (null without a projection), so CSV columns do not depend on the data."""
    if projection is None:
        return dict.fromkeys(("method", "drills", "fixed_s", "bytes_per_s", "low_s", "high_s", "data_bytes",
                              "smallest_drill_bytes", "largest_drill_bytes", "first_byte_measured", "dump_bytes",
                              "database_load_s", "basis"))
    return {
        "method": projection.method,
        "drills": projection.drills,
        "fixed_s": projection.model.fixed_s,
        "bytes_per_s": 1 / projection.model.s_per_byte,
        "low_s": projection.low_s,
        "high_s": projection.high_s,
        "data_bytes": projection.repo_bytes,
        "smallest_drill_bytes": projection.smallest_drill_bytes,
        "largest_drill_bytes": projection.largest_drill_bytes,
        "first_byte_measured": projection.first_byte_measured,
        "dump_bytes": projection.dump_bytes,
        "database_load_s": projection.database_load_s,
        "basis": basis,
    }


def drill_dict(drill: DrillPoint, rto_s: float) -> dict[str, Any]:
    return {
        "started_at": when(drill.started_at),
        "result": drill.result,
        "rta_s": drill.rta_s,
        "rta_share_of_rto": drill.rta_s / rto_s if rto_s else None,
        "snapshot_id": drill.snapshot_id,
        "verify": drill.verify,
        "files_restored": drill.files_restored,
        "bytes_restored": drill.bytes_restored,
        "manifest_authenticated": drill.manifest_authenticated,
        "checks": [{"name": c.name, "result": c.result, "detail": c.detail} for c in drill.checks],
    }


def policy_dict(p: PolicyReport) -> dict[str, Any]:
    rto, growth = p.rto, p.growth
    return {
        "name": p.name,
        "tier": p.tier,
        "owner": p.owner,
        "targets": p.targets,
        "in_force": in_force_dict(p.in_force),
        "rpo": rpo_dict(p.rpo),
        "verified_rpo": rpo_dict(p.verified_rpo),
        "rto": {
            "target_s": rto.target_s,
            "attainment": rto.attainment,
            "slots_counted": rto.slots_counted,
            "slots_met": rto.slots_met,
            "rta_p50_s": number(rto.rta_p50_s),
            "rta_p95_s": number(rto.rta_p95_s),
            "rta_max_s": number(rto.rta_max_s),
            "last_pass_at": when(rto.last_pass_at),
            "last_pass_age_s": number(rto.last_pass_age_s),
            "projected_full_rto_s": number(rto.projected_full_rto_s),
            "projected_exceeds_rto": rto.projected_exceeds_rto,
            "projection": projection_dict(rto.projection, p.projection_basis),
            "drills": [drill_dict(d, rto.target_s) for d in p.drills],
        },
        "growth": {
            "bytes_per_day": number(growth.bytes_per_day),
            "latest_bytes": growth.latest_bytes,
            "latest_at": when(growth.latest_at),
            "samples": growth.samples,
            "rto_crossing_at": when(growth.rto_crossing_at),
        },
        "evidence": {
            "records": p.evidence.records,
            "verified": p.evidence.verified,
            "first_at": when(p.evidence.first_at),
            "by_kind": p.evidence.by_kind,
        },
        "caveats": p.caveats,
        "suspicious_backups": [{"snapshot_id": m.snapshot_id, "finished_at": when(m.finished_at),
                                "reasons": m.reasons, "accepted": m.accepted} for m in p.suspicious],
        "sources": p.sources,
        "not_shown": p.not_shown,
        "repositories": [{"name": r.name, "copy_of": r.copy_of, "last_copy_at": when(r.last_copy_at),
                          "rpo": rpo_dict(r.rpo)} for r in p.repositories],
    }


def report_dict(report: Report) -> dict[str, Any]:
    return {
        "period": {"since": when(report.period.since), "until": when(report.period.until)},
        "generated_at": when(report.generated_at),
        "policies": [policy_dict(p) for p in report.policies],
        "notes": report.notes,
        "not_shown": report.not_shown,
    }


@register_format("json")
def render(report: Report) -> str:
    return dumps(report)
