"""Typed `measured` payloads of evidence records, one model per record kind (docs/evidence.md).

On disk `measured` stays a plain JSON object inside the signed record (its canonical bytes are
what the signature covers, so records written by earlier versions must read back unchanged).
Writers build a model and store `to_measured()`; readers go through `measured_of(record, Model)`,
which validates: a signed record whose result promises a field (a passing backup's
`manifest_sha256`) but lacks it is a verification failure, never "not authenticated, carry on".
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from drkit.core.errors import VerificationError
from drkit.core.outcome import SNAPSHOT_RESULTS
from drkit.evidence.records import Record

SCHEMA_VERSION = 1  # of every payload below; bump with a migration note in docs/evidence.md


class Measured(BaseModel):
    """Base of every payload: unknown keys are kept (a newer drkit may have written them)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    def to_measured(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class DatabaseDumpMeasured(Measured):
    """One database a database target dumped (docs/databases.md)."""

    target: str                    # the target's name
    kind: str                      # postgres, mysql
    database: str
    bytes: int                     # size of the dump file
    duration_s: float              # how long dumping it took
    server_version: str


class GuardMeasured(Measured):
    """The ransomware guardrail's judgement of a backup (docs/guard.md): signed with the backup."""

    suspicious: bool
    signals: list[str] = []         # mass_change, bytes_added, shrink_bytes, shrink_files
    reasons: list[str] = []
    baseline_backups: int = 0       # 0: nothing to compare with (first backups)
    baseline_files: int = 0
    baseline_bytes: int = 0
    files_unmodified: int = 0
    changed_percent: float | None = None
    added_ratio: float = 0.0


class BackupMeasured(Measured):
    """A backup that made a snapshot (result pass or partial)."""

    data_added: int
    files_new: int
    files_changed: int
    paths: list[str]
    manifest: str                  # where the manifest sits inside the snapshot (absolute path)
    manifest_files: int
    manifest_sha256: str           # what a drill compares the manifest restored from the snapshot with
    hashed_bytes: int
    restic_duration_s: float
    unreadable_files: int = 0      # files the backup could not read (docs/drill.md, "Partial snapshots")
    databases: list[DatabaseDumpMeasured] = []  # one entry per database dumped (database targets)
    guard: GuardMeasured | None = None  # None: written before the guardrail, or guard.enabled false


class CheckMeasured(Measured):
    """A repository check: which pack subset it read."""

    read_data_subset: str
    subset_n: int | None = None
    subset_m: int | None = None


class ForgetRefusedMeasured(Measured):
    """A forget that refused (result breach): which suspicious snapshots it was told to accept."""

    accepted_suspicious: list[str] = []  # full snapshot ids (`forget --accept-suspicious`, docs/guard.md)


class ForgetMeasured(ForgetRefusedMeasured):
    kept: list[str]
    removed: list[str]
    pruned: bool
    retention: dict[str, Any]
    protected: list[str] = []      # kept by guard.keep_clean whatever retention said (docs/guard.md)


class DrillMeasured(Measured):
    """A drill; most fields exist only when the drill got that far (a refused sandbox has none)."""

    snapshot_selector: str
    verify: str
    rto_s: float
    rta_s: float
    sandbox: str | None = None
    size_estimate: int | None = None
    bytes_restored: int = 0
    files_restored: int = 0
    dirs_restored: int = 0
    symlinks_restored: int = 0
    other_restored: int = 0
    restore_verify_s: float = 0.0
    checks: list[dict[str, Any]] = []
    sandbox_kept: bool = False
    manifest: str | None = None
    manifest_sha256: str | None = None
    manifest_authenticated: bool | None = None
    changed_during_backup: int = 0
    databases: list[dict[str, Any]] = []  # throw-away servers started on restored dumps (docs/databases.md)
    database_s: float = 0.0        # their db_start + db_load + queries phases: bringing the service back
    database_bytes: int = 0        # the size of the dumps they loaded (the projected RTO scales db_load by it)


class DatabaseLoadMeasured(Measured):
    """A dump loaded into a running server (`drkit restore --to-database`, docs/recovery.md)."""

    target: str                    # the database target's name
    kind: str                      # postgres, mysql
    database: str                  # the database as dumped
    loaded_into: str               # the database on the server it was loaded into
    connection: str                # the DSN or option file named (never carries a password)
    dump_bytes: int
    server_version: str            # of the server that made the dump
    replaced_objects: int = 0      # what the database held before a --force load
    loaded: bool = False
    tables: int | None = None      # counted by the server after the load
    rows: int | None = None
    load_s: float | None = None


class RestoreMeasured(Measured):
    """A restore (`drkit restore`): who restored which snapshot where, and whether every restored
    file was verified against the backup manifest."""

    user: str                      # who ran it (SUDO_USER when run through sudo)
    snapshot_selector: str         # as asked: latest, before:TIME or an id
    target: str                    # the directory restored into (`/` for --in-place)
    in_place: bool
    include: list[str]             # snapshot paths restored; empty: the whole snapshot
    forced: bool = False           # the target was not empty
    verified: bool = False         # every restored file matched its listing entry and manifest hash
    files_hashed: int = 0
    bytes_hashed: int = 0
    changed_during_backup: int = 0
    not_in_manifest: int = 0
    manifest: str | None = None
    manifest_sha256: str | None = None
    manifest_authenticated: bool | None = None
    dirs_restored: int = 0
    symlinks_restored: int = 0
    other_restored: int = 0
    database: DatabaseLoadMeasured | None = None  # --to-database: the dump loaded into a running server


class CopiedSnapshot(Measured):
    """One snapshot a copy run added to the destination repository."""

    source_id: str                 # the snapshot's id in the source repository (the backup's)
    copy_id: str                   # the new snapshot's id in the destination repository
    time: str                      # the snapshot's capture time (UTC ISO), the recovery point's data time


class CopyMeasured(Measured):
    """A copy (`drkit copy`): which repository's snapshots went where; the run's finish is when
    the copied snapshots became restorable from the destination (docs/repositories.md)."""

    source: str                    # repository names in the policy
    destination: str
    copied: list[CopiedSnapshot] = []
    already_present: int = 0       # the policy's snapshots the destination had before this run
    bytes: int | None = None       # restic 0.14's copy reports no byte count: None
    duration_s: float = 0.0        # restic copy's wall time


class RunMeasured(Measured):
    """A run that ended before it measured anything (failed, interrupted, missed)."""


# (kind, results) -> the payload a record of that kind and result must carry
_PAYLOADS: dict[tuple[str, str], type[Measured]] = {
    **{("backup", r): BackupMeasured for r in SNAPSHOT_RESULTS},
    **{("check", r): CheckMeasured for r in ("pass", "fail")},
    ("forget", "pass"): ForgetMeasured,
    ("forget", "breach"): ForgetRefusedMeasured,
    **{("drill", r): DrillMeasured for r in ("pass", "breach", "fail", "error")},
    **{("restore", r): RestoreMeasured for r in ("pass", "fail", "error")},
    ("copy", "pass"): CopyMeasured,
}

M = TypeVar("M", bound=Measured)


def payload_type(record: Record) -> type[Measured]:
    return _PAYLOADS.get((record.kind, record.result), RunMeasured)


def measured_of(record: Record, model: type[M]) -> M:
    """The record's payload as `model`; VerificationError naming the record when it does not fit."""
    expected = payload_type(record)
    if expected is not model and not issubclass(model, expected):
        raise ValueError(f"a {record.kind} record with result {record.result} carries {expected.__name__}, "
                         f"not {model.__name__}")
    try:
        return model.model_validate(record.measured)
    except ValidationError as exc:
        fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors()}))
        raise VerificationError(f"{record.kind} evidence of {record.policy} from {record.finished_at:%Y-%m-%d %H:%M}Z "
                                f"({record.digest()[:12]}…) lacks or garbles {fields}") from None


def measured_if(record: Record, model: type[M]) -> M | None:
    """The payload as `model` when the record's kind and result carry it (else None: a failed run)."""
    return measured_of(record, model) if payload_type(record) is model else None


def validate_payload(record: Record) -> str | None:
    """None when the record's payload fits its kind and result; else the problem (evidence verify)."""
    try:
        measured_of(record, payload_type(record))
    except VerificationError as exc:
        return str(exc)
    return None
