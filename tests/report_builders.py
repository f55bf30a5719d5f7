"""Builders shared by the report tests: synthetic policy facts and a catalog filled the way drkit
fills it (signed records, a snapshot listing). A module beside conftest.py, importable whatever
pytest's import mode."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from drkit.core.compliance import Period
from drkit.core.policy import Policy
from drkit.engines.catalog import Catalog, PointRow, SnapshotRow
from drkit.evidence.keys import LOCAL_KEY
from drkit.evidence.records import Record, SigningKey
from drkit.views.report.gather import collect_report
from drkit.views.report.model import EvidenceItem, PolicyFacts

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
T1 = datetime(2026, 1, 11, tzinfo=timezone.utc)
PERIOD = Period(T0, T1)
H = 3600
DAY = 86400


def at(days: float, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def daily_points(skip: tuple[int, ...] = (4,)) -> list[PointRow]:
    """drkit backups captured 02:00 and finished 02:30, Dec 31 .. Jan 10 (Jan 5 = day 4 missing)."""
    return [PointRow(f"{d + 1:02d}" * 32, at(d, 2), at(d, 2.5)) for d in range(-1, 10) if d not in skip]


# one check as a drill's payload records it (drkit/checks/registry.py CheckResult.as_dict)
CHECK = {"name": "file_exists /srv/app/app.db", "passed": True, "seconds": 0.01, "detail": "present", "error": False}


def drill(start: datetime, hours: float, result: str = "pass", *, snapshot: datetime | None = None,
          restore_verify_s: float = 0.0, bytes_restored: int = 0, first_byte_s: float | None = None) -> EvidenceItem:
    measured = {"restore_verify_s": restore_verify_s, "bytes_restored": bytes_restored, "verify": "full",
                "checks": [CHECK if result in ("pass", "breach") else CHECK | {"passed": False, "detail": "missing"}]}
    if first_byte_s is not None:
        measured["restore_first_byte_s"] = first_byte_s
    record = Record(kind="drill", policy="db", started_at=start, finished_at=start + timedelta(hours=hours),
                    result=result, snapshot_id="ab" * 32, snapshot_time=snapshot, measured=measured)
    return EvidenceItem(record)


def facts(**overrides) -> PolicyFacts:
    base = dict(name="db", tier=1, owner="Jane <jane@example.com>", rpo_s=25 * H, rto_s=4 * H,
                repository="s3:http://s3.local/b/db", points=tuple(daily_points()), snapshot_count=10,
                listed_at=T1, first_evidence_at=at(-1, 2.5), first_drill_at=at(1, 10))
    base.update(overrides)
    return PolicyFacts(**base)


OCCURRENCES = (at(-2), at(3), at(8), at(13))  # slots [Dec 30, Jan 4) [Jan 4, Jan 9) [Jan 9, Jan 14)


def rto_facts(rto_h: float = 4) -> PolicyFacts:
    drills = (
        drill(at(1, 10), 1, snapshot=at(0, 2)),  # RTA 1 h: meets
        drill(at(5, 10), 5, "breach", snapshot=at(5, 2), restore_verify_s=4 * H, bytes_restored=10**9),
        drill(at(9, 10), 2, "fail", snapshot=at(9, 2)),
    )
    sizes = tuple((at(d, 2.5), 1_100_000_000 + d * 100_000_000) for d in range(10) if d != 4)
    # in force since the first slot began: every slot of these timelines may be blamed
    return facts(rto_s=rto_h * H, drills=drills, drill_schedule="every 5 days", drill_occurrences=OCCURRENCES,
                 sizes=sizes, latest_size=sizes[-1], in_force_from=OCCURRENCES[0])


MONTH = Period(T0, T0 + timedelta(days=30))
EVERY_5_DAYS = tuple(at(d) for d in range(-5, 40, 5))  # slots [0,5) .. [25,30)


def new_policy(**overrides):
    """The reported case: a policy whose first backup completed on day 27 of a 30-day report, with
    daily backups and one passing drill since."""
    points = tuple(PointRow(f"{d:02d}" * 32, at(d, 2), at(d, 2.5)) for d in (27, 28, 29))
    drills = (drill(at(27, 10), 1, snapshot=at(27, 2)),)
    base = dict(points=points, drills=drills, drill_schedule="every 5 days", drill_occurrences=EVERY_5_DAYS,
                first_evidence_at=at(27, 2.5), first_drill_at=at(27, 11))
    base.update(overrides)
    return facts(**base)


def make_policy(name: str = "db", **extra) -> Policy:
    data = {"version": 1, "name": name, "objectives": {"rpo": "25h", "rto": "4h"},
            "business": {"tier": 1, "owner": "Jane <jane@example.com>"},
            "targets": [{"path": "/srv/data"}],
            "repository": {"url": f"s3:http://127.0.0.1:9/bucket/{name}", "password_file": "/etc/pw"}}
    data.update(extra)
    return Policy.model_validate(data)


class History:
    """A catalog filled the way drkit fills it: signed records, a snapshot listing."""

    def __init__(self, state: Path):
        self.state = state
        self.catalog = Catalog(state / "catalog.sqlite")
        self.key = SigningKey.load_or_create(state / LOCAL_KEY)
        self.snapshots: list[SnapshotRow] = []
        self.made = 0

    def new_id(self) -> str:
        self.made += 1
        return f"{self.made:064x}"

    def backup(self, capture: datetime, finished: datetime, size: int = 1000, policy: str = "db",
               listed: bool = True, result: str = "pass", measured: dict | None = None) -> str:
        sid = self.new_id()
        record = Record(kind="backup", policy=policy, started_at=capture, finished_at=finished, result=result,
                        snapshot_id=sid, snapshot_time=capture, bytes=size, measured=measured or {})
        self.catalog.add_record(self.key.sign(record))
        if listed:
            self.snapshots.append(SnapshotRow(policy, sid, capture, "host", ["drkit"]))
        return sid

    def manual(self, capture: datetime, policy: str = "db") -> None:
        self.snapshots.append(SnapshotRow(policy, self.new_id(), capture, "host", []))

    def drill(self, start: datetime, hours: float, result: str = "pass", policy: str = "db", *,
              measured: dict | None = None, phases: dict[str, float] | None = None) -> Record:
        record = self.key.sign(Record(kind="drill", policy=policy, started_at=start,
                                      finished_at=start + timedelta(hours=hours), result=result,
                                      snapshot_id="ab" * 32, snapshot_time=start - timedelta(hours=8),
                                      measured={"restore_verify_s": 600, "bytes_restored": 1000, "verify": "full",
                                                "files_restored": 3, "manifest_authenticated": True,
                                                "checks": [CHECK], **(measured or {})},
                                      phases=phases or {}))
        self.catalog.add_record(record)
        return record

    def list(self, policy: str = "db") -> None:
        self.catalog.replace_snapshots(policy, [s for s in self.snapshots if s.policy == policy])

    def report(self, since: datetime, until: datetime, *policies: Policy, state: Path | None = None):
        return collect_report(self.catalog, state or self.state, list(policies) or [make_policy()],
                              Period(since, until), until)
