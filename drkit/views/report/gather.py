"""Read what a report needs from the catalog and the policy files (the I/O edge of `model.py`).

Reads are bounded by the period (plus the few rows before it that still matter), so a report
costs the same with ten years of history as with one month (docs/reports.md).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from drkit.core.compliance import CopyRun, Period
from drkit.core.locations import public_url
from drkit.core.policy import Policy
from drkit.core.schedules import SchedulePhrase
from drkit.engines.catalog import Catalog, PointRow
from drkit.engines.s3_location import parse_location
from drkit.evidence.keys import KeyRing
from drkit.evidence.payloads import CopyMeasured, measured_of
from drkit.evidence.records import Record, parse_utc, signature_problem
from drkit.views.report.model import CopyFacts, EvidenceItem, PolicyFacts, Report, build_report

if TYPE_CHECKING:  # `drkit status` reads the catalog through here: no cryptography or boto3 at import
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def known_keys(catalog: Catalog, state_dir: Path) -> dict[str, Ed25519PublicKey]:
    """Public keys that may have signed evidence (drkit/evidence/keys.py)."""
    return KeyRing.of_host(catalog, state_dir).keys


def checked_rows(catalog: Catalog, rows: list[tuple[str, str, str]],
                 keys: dict[str, Ed25519PublicKey]) -> list[EvidenceItem]:
    """Signature status of stored records, each verified once: a record whose text still hashes to
    its digest and whose digest a known key verified before needs no new Ed25519 check (an edit
    changes the hash, so it is checked again, and fails)."""
    cached = catalog.verified_keys(digest for digest, _, _ in rows)
    items: list[EvidenceItem] = []
    newly: list[tuple[str, str]] = []
    for digest, kind, text in rows:
        intact = hashlib.sha256(text.encode("utf-8")).hexdigest() == digest
        if intact and cached.get(digest) in keys:
            items.append(EvidenceItem(None, None, kind=kind, text=text))
            continue
        record = Record.model_validate_json(text)
        problem = signature_problem(record, keys)
        if problem is None and intact and record.key_id:
            newly.append((digest, record.key_id))
        items.append(EvidenceItem(record, problem, kind=kind, text=text))
    if newly:
        catalog.mark_verified(newly)
    return items


def policy_facts(catalog: Catalog, policy: Policy, period: Period, keys: dict[str, Ed25519PublicKey]) -> PolicyFacts:
    name = policy.name
    return PolicyFacts(
        name=name, tier=policy.business.tier, owner=policy.business.owner,
        rpo_s=policy.objectives.rpo.total_seconds(), rto_s=policy.objectives.rto.total_seconds(),
        repository=public_url(policy.repository.url), evidence_location=evidence_location(policy),
        drill_schedule=policy.schedule.drill.text if policy.schedule.drill else None,
        drill_occurrences=tuple(drill_occurrences(policy, period)),
        points=tuple(recovery_points(catalog, name, period, keys, accept_partial=policy.objectives.accept_partial)),
        accept_partial=policy.objectives.accept_partial,
        snapshot_count=catalog.snapshot_count(name), listed_at=catalog.listed_at(name),
        drills=tuple(checked_rows(catalog, catalog.evidence_rows(name, until=period.until, kind="drill"), keys)),
        records=tuple(checked_rows(catalog, catalog.evidence_rows(name, period.since, period.until), keys)),
        sizes=tuple(catalog.backup_sizes(name, period.since, period.until)),
        latest_size=catalog.latest_backup_size(name, period.until),
        latest_dump_bytes=catalog.latest_dump_bytes(name, period.until),
        first_evidence_at=catalog.first_evidence_at(name), first_drill_at=catalog.first_evidence_at(name, "drill"),
        in_force_from=policy.objectives.in_force_from, targets=tuple(target_labels(policy)),
        suspicious=tuple(catalog.suspicious_marks(name)),
        repository_name=policy.repository.name, copies=copy_facts(catalog, policy, period, keys),
    )


def target_labels(policy: Policy) -> list[str]:
    """What the policy protects, in each target kind's own words (drkit/targets/registry.py)."""
    from drkit.targets.registry import target_kind

    return [target_kind(t).label(t) for t in policy.targets]


def copy_facts(catalog: Catalog, policy: Policy, period: Period, keys: dict[str, Ed25519PublicKey]) -> tuple[CopyFacts, ...]:
    """Each copy repository's passing copy runs whose signature holds: a forged record must not
    invent a copy (docs/repositories.md)."""
    items = checked_rows(catalog, catalog.copy_rows(policy.name, period.since, period.until), keys)
    runs: dict[str, list[CopyRun]] = {repo.name: [] for repo in policy.repositories[1:]}
    for item in items:
        record = item.record
        if item.verified and record.repository in runs:
            copied = measured_of(record, CopyMeasured).copied
            runs[record.repository].append(CopyRun(record.finished_at,
                                                   tuple((c.copy_id, parse_utc(c.time)) for c in copied)))
    return tuple(CopyFacts(name, tuple(found), catalog.first_copy_at(policy.name, name)) for name, found in runs.items())


def recovery_points(catalog: Catalog, name: str, period: Period, keys: dict[str, Ed25519PublicKey], *,
                    accept_partial: bool = True) -> list[PointRow]:
    """Snapshots from the repository listing, plus those known only from backup evidence whose
    signature holds: a forged record must not invent a recovery point the repository never had."""
    rows = catalog.recovery_point_rows(name, period.since, accept_partial=accept_partial)
    unlisted = {r.id for r in rows if not r.listed}
    if not unlisted:
        return rows
    items = checked_rows(catalog, catalog.backup_rows(name, unlisted), keys)
    vouched = {i.record.snapshot_id for i in items if i.verified}
    return [r for r in rows if r.listed or r.id in vouched]


def drill_occurrences(policy: Policy, period: Period) -> list[datetime]:
    """Drill-schedule times covering the period (one at or before its start, one at or after its
    end), anchored at the period start; [] without a drill schedule."""
    phrase = policy.schedule.drill
    if phrase is None:
        return []
    return list(_occurrences(phrase, period))


@lru_cache(maxsize=64)
def _occurrences(phrase: SchedulePhrase, period: Period) -> tuple[datetime, ...]:
    """Computed once per phrase and period: a hundred policies drilled "every sunday at 04:00"
    share one list (the phrase is a frozen value)."""
    margin = phrase.nominal_interval + timedelta(days=2)
    return tuple(phrase.occurrences(period.since - margin, period.until + margin, anchor=period.since))


def evidence_location(policy: Policy) -> str | None:
    location = parse_location(policy.repository)
    if location is None:
        return None
    return f"s3://{location.bucket}/{location.evidence_root}{policy.name}/"


def in_force_starts(catalog: Catalog, policies: list[Policy]) -> list[datetime | None]:
    """Each policy's in-force-from F as the report model derives it (model.in_force_of): declared,
    else its first evidence record, else None."""
    return [p.objectives.in_force_from or catalog.first_evidence_at(p.name) for p in policies]


def collect_report(catalog: Catalog, state_dir: Path, policies: list[Policy], period: Period, now: datetime,
                   notes: list[str] | None = None) -> Report:
    """The report for `policies` over `period`, from the catalog alone (no network)."""
    keys = known_keys(catalog, state_dir)
    return build_report([policy_facts(catalog, p, period, keys) for p in policies], period, now, notes)
