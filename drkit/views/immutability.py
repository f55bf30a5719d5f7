"""`drkit repo audit`: is the repository's bucket set up so that the host's own credentials cannot
destroy its backups? One verdict per control against what the policy asks (docs/immutability.md).

Reading the bucket (`gather`) is kept apart from judging it (`judge`, pure): the rules are unit-tested
on plain values, the readings come from engines/s3.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from drkit.core import errors
from drkit.core.display import count_of
from drkit.core.jsonshape import JsonDocument
from drkit.core.policy import Policy, Repository
from drkit.engines.s3 import S3, ObjectRetention, StoredObject, Unsupported
from drkit.engines.workspace import Workspace

Status = Literal["OK", "MISSING", "UNSUPPORTED", "UNKNOWN"]
BREACHING: frozenset[str] = frozenset({"MISSING", "UNSUPPORTED"})  # a required control not shown to be in place
MAX_HEADS = 2000  # HEAD requests per audit: above it, every snapshot/index file and an even sample of packs
CLOCK_SLACK = timedelta(hours=1)  # retention is set after the snapshot is written, from the host's clock
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})  # restic cannot read objects moved there
BUCKET_CONTROLS = ("versioning", "object_lock", "public_access_block", "encryption", "lifecycle")


@dataclass(frozen=True)
class Requirements:
    """What the policy's repository asks of its bucket."""

    object_lock: bool        # require_object_lock or lock_days
    lock_days: int | None
    lock_mode: str
    prefix: str              # the repository's key prefix in the bucket
    is_aws: bool
    lock_days_key: str = "repository.lock_days"  # as the policy file spells it (hints)

    @classmethod
    def of(cls, repo: Repository, s3: S3, lock_days_key: str = "repository.lock_days") -> Requirements:
        return cls(bool(repo.require_object_lock or repo.lock_days), repo.lock_days, repo.lock_mode,
                   s3.location.prefix, s3.location.is_aws, lock_days_key)


@dataclass(frozen=True)
class NewestSnapshot:
    """The newest snapshot file in the bucket and the repository objects its backup wrote."""

    key: str
    written: datetime
    retentions: list[ObjectRetention]
    total: int = 0  # objects the backup wrote; more than len(retentions) when only a sample was read

    @property
    def counted(self) -> str:
        checked = len(self.retentions)
        return count_of(checked, "object") if checked >= self.total else f"{checked} (a sample) of {self.total} objects"


@dataclass(frozen=True)
class Control:
    name: str
    status: Status
    required: bool
    detail: str

    @property
    def breached(self) -> bool:
        return self.required and self.status in BREACHING

    def line(self) -> str:
        need = "required" if self.required else "advisory"
        return f"{self.status:<11} {self.name:<19} {need:<8}  {self.detail}"


@dataclass
class AuditResult(JsonDocument, schema="drkit.repo-audit/1"):
    policy: str
    repository: str
    bucket: str
    prefix: str
    controls: list[Control] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [c.name for c in self.controls if c.breached]

    def json_fields(self) -> dict[str, Any]:
        return {"policy": self.policy, "repository": self.repository, "bucket": self.bucket, "prefix": self.prefix,
                "verdict": "BREACH" if self.missing else "OK", "missing": self.missing,
                "controls": [c.__dict__ | {"breached": c.breached} for c in self.controls]}

    def lines(self) -> list[str]:
        head = f"{self.policy}: bucket {self.bucket}, prefix {self.prefix or '(none)'} (repository {self.repository})"
        return [head, *(c.line() for c in self.controls)]


# --- judging (pure) ---------------------------------------------------------------------------

Reading = dict | None | Unsupported
Judge = Callable[[Reading, Requirements], Control]
JUDGES: dict[str, Judge] = {}


def judges(name: str) -> Callable[[Judge], Judge]:
    def register(func: Judge) -> Judge:
        JUDGES[name] = func
        return func
    return register


def _unsupported(name: str, reading: Unsupported, required: bool) -> Control:
    return Control(name, "UNSUPPORTED", required, f"the server does not implement this API ({reading.code})")


@judges("versioning")
def _versioning(reading: Reading, req: Requirements) -> Control:
    if isinstance(reading, Unsupported):
        return _unsupported("versioning", reading, req.object_lock)
    state = (reading or {}).get("Status", "Off")
    if state == "Enabled":
        return Control("versioning", "OK", req.object_lock, "Enabled")
    return Control("versioning", "MISSING", req.object_lock,
                   f"{state}: a deleted or overwritten object is gone (Object Lock needs versioning)")


@judges("object_lock")
def _object_lock(reading: Reading, req: Requirements) -> Control:
    if isinstance(reading, Unsupported):
        return _unsupported("object_lock", reading, req.object_lock)
    conf = (reading or {}).get("ObjectLockConfiguration", {})
    if conf.get("ObjectLockEnabled") != "Enabled":
        return Control("object_lock", "MISSING", req.object_lock,
                       "the bucket has no Object Lock (AWS: put-object-lock-configuration on the versioned "
                       "bucket; servers that allow it only at creation: a new bucket via `drkit repo init`)")
    rule = conf.get("Rule", {}).get("DefaultRetention")
    default = f"default retention {rule.get('Mode')} {rule.get('Days') or rule.get('Years')}" \
              f" {'days' if rule.get('Days') else 'years'}" if rule else "no default retention"
    if not rule and not req.lock_days:
        return Control("object_lock", "MISSING", req.object_lock,
                       f"enabled, but nothing sets retention: no default rule and no {req.lock_days_key}")
    detail = f"enabled, {default}"
    if req.lock_days:
        detail += f"; drkit sets {req.lock_mode} {req.lock_days} days on each backup's objects"
    if rule and req.is_aws:
        detail += "; warning: AWS rejects restic 0.14 uploads under a default retention rule"
    return Control("object_lock", "OK", req.object_lock, detail)


@judges("public_access_block")
def _public_access_block(reading: Reading, req: Requirements) -> Control:
    if isinstance(reading, Unsupported):
        return _unsupported("public_access_block", reading, False)
    conf = (reading or {}).get("PublicAccessBlockConfiguration", {})
    off = [k for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
           if not conf.get(k)]
    if reading is None:
        return Control("public_access_block", "MISSING", False, "no public access block on the bucket")
    if off:
        return Control("public_access_block", "MISSING", False, f"not set: {', '.join(off)}")
    return Control("public_access_block", "OK", False, "all four settings on")


@judges("encryption")
def _encryption(reading: Reading, req: Requirements) -> Control:
    if isinstance(reading, Unsupported):
        return _unsupported("encryption", reading, False)
    rules = (reading or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    algorithms = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules]
    algorithms = [a for a in algorithms if a]
    if not algorithms:
        return Control("encryption", "MISSING", False,
                       "no default encryption (restic encrypts client-side; this is defence in depth)")
    return Control("encryption", "OK", False, f"default {', '.join(algorithms)}")


@judges("lifecycle")
def _lifecycle(reading: Reading, req: Requirements) -> Control:
    if isinstance(reading, Unsupported):
        return _unsupported("lifecycle", reading, True)
    rules = [r for r in (reading or {}).get("Rules", []) if r.get("Status") == "Enabled"]
    hits = [problem for rule in rules if _covers(_rule_prefix(rule), req.prefix)
            for problem in _rule_problems(rule, req.lock_days)]
    if hits:
        return Control("lifecycle", "MISSING", True, "; ".join(hits))
    return Control("lifecycle", "OK", True, f"{count_of(len(rules), 'enabled rule')}, none expires repository data early"
                   if rules else "no lifecycle rules")


def _rule_prefix(rule: dict) -> str:
    filt = rule.get("Filter") or {}
    return (filt.get("And") or {}).get("Prefix", filt.get("Prefix", rule.get("Prefix", ""))) or ""


def _covers(rule_prefix: str, repo_prefix: str) -> bool:
    """Whether a rule with this key prefix can touch objects of the repository."""
    repo = repo_prefix.rstrip("/") + "/" if repo_prefix else ""
    return repo.startswith(rule_prefix) or rule_prefix.startswith(repo)


def _rule_problems(rule: dict, lock_days: int | None) -> list[str]:
    """Why one lifecycle rule endangers repository data: expiring current versions deletes packs
    restic still needs at any age; noncurrent expiration sooner than the retention shortens it."""
    name = f"rule '{rule.get('ID', '?')}'"
    problems = []
    expiration = rule.get("Expiration") or {}
    if expiration.get("Days") or expiration.get("Date"):
        when = f"{expiration['Days']} days" if expiration.get("Days") else f"on {expiration['Date']}"
        problems.append(f"{name} expires current objects after {when}: restic still needs old packs")
    noncurrent = (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays")
    if noncurrent and lock_days and noncurrent < lock_days:
        problems.append(f"{name} expires old versions after {noncurrent} days, before the {lock_days}-day retention")
    moved = {t.get("StorageClass") for t in rule.get("Transitions", [])} & ARCHIVE_CLASSES
    if moved:
        problems.append(f"{name} moves objects to {', '.join(sorted(moved))}, which restic cannot read")
    return problems


def judge_retention(newest: NewestSnapshot | None | Unsupported, req: Requirements) -> Control:
    """Per-object retention on what the newest backup wrote: the policy's mode, at least lock_days
    from when the snapshot was written."""
    name, required = "object_retention", bool(req.lock_days)
    if isinstance(newest, Unsupported):
        return _unsupported(name, newest, required)
    if newest is None:
        return Control(name, "UNKNOWN", required, "no snapshot in the repository yet")
    days = req.lock_days or 1
    floor = newest.written + timedelta(days=days) - CLOCK_SLACK
    bad = [r for r in newest.retentions if r.mode != req.lock_mode or r.retain_until is None or r.retain_until < floor]
    count = newest.counted
    if not newest.retentions:  # nothing read is nothing shown: never an OK
        return Control(name, "UNKNOWN", required, f"no object of the newest snapshot {newest.key} found to check")
    if not bad:
        until = min((r.retain_until for r in newest.retentions if r.retain_until), default=None)
        return Control(name, "OK", required, f"{count} of the newest snapshot locked {req.lock_mode}"
                       + (f" until {until:%Y-%m-%d} or later" if until else ""))
    first = bad[0]
    why = "no retention" if first.mode is None else \
        f"{first.mode} until {first.retain_until:%Y-%m-%d}" if first.retain_until else f"{first.mode}"
    want = f"{req.lock_mode} for {req.lock_days} days" if req.lock_days else f"retention ({req.lock_days_key} unset)"
    return Control(name, "MISSING", required,
                   f"{len(bad)} of {count} of the newest snapshot lack {want}, e.g. {first.key}: {why}")


def judge(readings: dict[str, Reading], newest: NewestSnapshot | None | Unsupported,
          req: Requirements) -> list[Control]:
    controls = [JUDGES[name](readings[name], req) for name in BUCKET_CONTROLS]
    controls.insert(2, judge_retention(newest, req))
    return controls


# --- reading the bucket -----------------------------------------------------------------------

def newest_snapshot(s3: S3, prefix: str) -> NewestSnapshot | None:
    """The newest `snapshots/` file and the objects written after the snapshot before it, i.e. what
    the newest backup uploaded (restic's lock files excluded: they never get retention)."""
    base = prefix.rstrip("/") + "/" if prefix else ""
    snapshots = s3.list_objects(base + "snapshots/")
    if not snapshots:
        return None
    newest, written = last_run_writes(snapshots, s3.list_objects(base), base)
    return NewestSnapshot(newest.key, newest.modified,
                          [s3.object_retention(o.key) for o in _sample(written, base)], len(written))


def last_run_writes(snapshots: list[StoredObject], objects: list[StoredObject],
                    base: str) -> tuple[StoredObject, list[StoredObject]]:
    """The newest snapshot file and what the run that wrote it uploaded: the objects written after
    the last snapshot file older than it. Not simply the one before it in the listing: a `drkit copy`
    writes several snapshot files in the same second (S3 times have 1 s resolution), and taking
    their shared time as the start would leave nothing to check (docs/immutability.md)."""
    ordered = sorted(snapshots, key=lambda o: o.modified)
    newest = ordered[-1]
    after = max((o.modified for o in ordered if o.modified < newest.modified), default=None)
    return newest, [o for o in objects if _written_by(o, base, after, newest)]


def _sample(written: list[StoredObject], base: str) -> list[StoredObject]:
    """All of them up to MAX_HEADS; beyond, the small metadata files and evenly spaced packs (drkit
    locks a backup's objects all in one pass, so a gap shows up in any even sample)."""
    if len(written) <= MAX_HEADS:
        return written
    packs = [o for o in written if o.key.startswith(base + "data/")]
    others = [o for o in written if not o.key.startswith(base + "data/")]
    room = max(MAX_HEADS - len(others), 1)
    step = -(-len(packs) // room)
    return others + packs[::step]


def _written_by(obj: StoredObject, base: str, after: datetime | None, newest: StoredObject) -> bool:
    part = obj.key[len(base):].split("/", 1)[0]
    return part in ("data", "index", "snapshots") and obj.modified <= newest.modified \
        and (after is None or obj.modified > after)


def audit_repository(ws: Workspace, policy: Policy, repository: str | None = None) -> AuditResult:
    repo = policy.repository_named(repository)
    s3 = ws.s3(policy, repo.name)
    if s3 is None:
        raise errors.UsageError(f"{policy.name}: repository '{repo.name}' ({repo.url}) is not on S3; "
                                "repo audit checks S3 buckets only")
    req = Requirements.of(repo, s3, policy.repository_field("lock_days", repo.name))
    readings = {name: s3.read_control(name) for name in BUCKET_CONTROLS}
    newest = newest_snapshot(s3, req.prefix)
    result = AuditResult(policy.name, repo.name, s3.location.bucket, req.prefix)
    result.controls = judge(readings, newest, req)
    return result
