"""`drkit evidence verify`: is every evidence record authentic and is every chain complete?

Authentic: its Ed25519 signature holds under the public key it names (this host's key, keys a
`catalog rebuild` imported, or the `.pem` keys other hosts uploaded to `drkit-evidence/keys/`).
Complete: each policy's records link by `prev` (sha256 of the previous record), so an edited,
removed or reordered record shows as a break. Three sources of records: the local catalog, record
files given by hand (as stored in the bucket), and the bucket copies themselves (`--remote`),
which are also compared with the local catalog: a record uploaded from here but no longer in the
bucket was deleted, even when it was the newest one and no later record points at it.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from drkit.core import errors
from drkit.core.display import count_of
from drkit.core.jsonshape import JsonDocument
from drkit.core.policy import Policy
from drkit.engines.workspace import Workspace
from drkit.evidence.keys import KeyRing
from drkit.evidence.payloads import validate_payload
from drkit.evidence.records import (
    Record,
    chain_problems,
    digest_in_name,
    order_chain,
    signature_problem,
    utc_text,
)

if TYPE_CHECKING:  # boto3 only when a bucket is read
    from drkit.engines.s3 import S3

FETCH_WORKERS = 8


@dataclass(frozen=True)
class Item:
    """One record to check, named the way a person finds it again (catalog row, file, S3 key)."""

    name: str
    record: Record | None
    problem: str | None = None  # why it is unusable as found (does not parse, digest mismatch)


@dataclass
class VerifyReport(JsonDocument, schema="drkit.evidence-verification/1"):
    records: int
    policies: int
    problems: list[str] = field(default_factory=list)
    source: str = "catalog"

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.source == "report":
            return (f"report: embedded model matches its sha256 and the signature holds ({count_of(self.policies, 'policy')})"
                    if self.ok else f"report does not verify: {count_of(len(self.problems), 'problem')}")
        if self.ok and not self.records:  # nothing checked is no "signatures ok" (a new host's empty catalog)
            where = {"catalog": "the local catalog (a new host? drkit catalog rebuild imports the records from "
                                "the buckets; --remote checks them there)", "remote": "the buckets"}.get(self.source,
                                                                                              self.source)
            return f"0 records: nothing to verify in {where}"
        if self.ok:
            return f"{count_of(self.records, 'record')}, {count_of(self.policies, 'policy')}: signatures ok, chains intact"
        return (f"{count_of(len(self.problems), 'problem')} in {count_of(self.records, 'record')}, "
                f"{count_of(self.policies, 'policy')}")

    def json_fields(self) -> dict:
        return {"ok": self.ok, "source": self.source, "records": self.records, "policies": self.policies,
                "problems": self.problems, "summary": self.summary()}


# --- checking (pure given keys) ------------------------------------------------------------------

def check_items(items: list[Item], keys: dict[str, Ed25519PublicKey], *, open_start: bool = False,
                source: str = "catalog") -> VerifyReport:
    """Signatures of every record, then each policy's chain in time order."""
    problems: list[str] = []
    by_policy: dict[str, dict[str, Item]] = defaultdict(dict)
    for item in items:
        if item.problem:
            problems.append(f"{item.name}: {item.problem}")
        if item.record is None:
            continue
        problem = signature_problem(item.record, keys) or validate_payload(item.record)
        if problem:
            problems.append(f"{item.name}: {problem}")
        by_policy[item.record.policy].setdefault(item.record.digest(), item)  # same record twice counts once
    for policy in sorted(by_policy):
        name_of = {id(i.record): i.name for i in by_policy[policy].values()}
        records = order_chain([i.record for i in by_policy[policy].values()])  # type: ignore[misc]
        names = [name_of[id(r)] for r in records]
        problems += chain_problems(records, names, open_start=open_start)
    count = sum(len(v) for v in by_policy.values()) + sum(1 for i in items if i.record is None)
    return VerifyReport(count, len(by_policy), problems, source)


def parse_item(name: str, body: bytes | str) -> Item:
    try:
        return Item(name, Record.model_validate_json(body))
    except ValidationError as exc:
        return Item(name, None, f"not a valid evidence record ({exc.errors()[0]['msg']})")
    except ValueError as exc:
        return Item(name, None, f"not a valid evidence record ({exc})")


# --- sources -------------------------------------------------------------------------------------

def catalog_items(ws: Workspace) -> list[Item]:
    items = []
    for digest, policy, _uploaded, text in ws.catalog.stored_records():
        item = parse_item(f"catalog {policy} row {digest[:12]}", text)
        if item.record is not None:
            name = f"catalog {policy} {item.record.kind} {utc_text(item.record.finished_at)}"
            actual = item.record.digest()
            item = Item(name, item.record, None if actual == digest else
                        f"content no longer matches its stored digest {digest[:12]}… (edited in the catalog?)")
        items.append(item)
    return items


def file_items(paths: list[Path]) -> list[Item]:
    items = []
    for path in paths:
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise errors.UsageError(f"{path}: cannot read ({exc.strerror})") from None
        items.append(parse_item(str(path), body))
    return items


@dataclass(frozen=True)
class Bucket:
    """One place evidence is kept: a repository's bucket and evidence prefix for one policy. Copies
    in the same bucket and directory share it (checked once)."""

    policy: Policy
    repository: str
    s3: S3


def evidence_buckets(ws: Workspace, policies: list[Policy], repository: str | None = None) -> list[Bucket]:
    """Every S3 repository's evidence place of each policy (docs/repositories.md: every bucket holds
    every record), or only `repository`'s."""
    found: list[Bucket] = []
    seen: set[tuple[str, str, str]] = set()
    for policy in policies:
        names = [r.name for r in policy.repositories]
        if repository is not None and repository not in names:
            continue
        for name in [repository] if repository is not None else names:
            s3 = ws.s3(policy, name)
            if s3 is None:
                continue
            where = (s3.location.endpoint, s3.location.bucket, s3.evidence_prefix(policy.name))
            if where not in seen:
                seen.add(where)
                found.append(Bucket(policy, name, s3))
    return found


def remote_items(ws: Workspace, place: Bucket) -> tuple[list[Item], dict[str, str]]:
    """Every record object under one bucket's evidence prefix of a policy, plus the records this
    host uploaded there that are missing (digest -> problem), from comparing it with the catalog."""
    policy, s3 = place.policy, place.s3
    prefix = s3.evidence_prefix(policy.name)
    bucket = s3.location.bucket
    keys = [k for k in s3.list_keys(prefix) if k.endswith(".json")]
    with ThreadPoolExecutor(FETCH_WORKERS) as pool:
        bodies = list(pool.map(s3.get_bytes, keys))
    items: list[Item] = []
    seen: set[str] = set()
    for key, body in zip(keys, bodies):
        item = _remote_item(f"s3://{bucket}/{key}", key, body, policy.name)
        if item.record is not None:
            seen.add(item.record.digest())
        items.append(item)
    missing: dict[str, str] = {}
    for digest, text in ws.catalog.uploaded_to(policy.name, place.repository, policy.repositories[0].name):
        if digest not in seen:
            parsed = parse_item("", text).record
            what = f"{parsed.kind} record finished {utc_text(parsed.finished_at)}" if parsed else "record"
            missing[digest] = (f"s3://{bucket}/{prefix}: {what} (digest {digest[:12]}…) was uploaded "
                               "from this host but is missing from the bucket (deleted?)")
    return items, missing


def _remote_item(name: str, key: str, body: bytes, policy: str) -> Item:
    item = parse_item(name, body)
    if item.record is None:
        return item
    if item.record.policy != policy:
        return Item(name, item.record, f"record of policy '{item.record.policy}' under the prefix of '{policy}'")
    named = digest_in_name(key)
    if named and not item.record.digest().startswith(named):
        return Item(name, item.record, f"object name says digest {named}…, content hashes to "
                                       f"{item.record.digest()[:12]}… (edited after upload?)")
    return item


def key_ring(ws: Workspace, policies: list[Policy]) -> KeyRing:
    """This host's key, keys a rebuild imported, and (on demand) every bucket's uploaded keys."""
    ring = KeyRing.of_host(ws.catalog, ws.state_dir)
    seen: set[tuple[str, str, str]] = set()
    for policy in policies:
        for repository in policy.repositories:  # every bucket holds the keys too: any one may be left
            s3 = ws.s3(policy, repository.name)
            if s3 is None:
                continue
            where = (s3.location.endpoint, s3.location.bucket, s3.keys_prefix())
            if where in seen:
                continue
            seen.add(where)
            ring.add_source(lambda s3=s3: _bucket_keys(s3))
    return ring


def _bucket_keys(s3) -> list[tuple[str, bytes]]:  # noqa: ANN001 - drkit.engines.s3.S3
    return [(f"s3://{s3.location.bucket}/{k}", s3.get_bytes(k)) for k in s3.list_keys(s3.keys_prefix())
            if k.endswith(".pem")]


# --- sealed HTML reports -------------------------------------------------------------------------

def verify_report_page(ws: Workspace, policies: list[Policy], path: Path) -> VerifyReport:
    """Check a sealed HTML report (drkit/evidence/report_seal.py): its embedded JSON model still
    hashes to the sealed sha256, and the signature over the page holds under a known key (this
    host's, imported ones, or on demand the buckets' uploaded keys)."""
    from drkit.evidence.report_seal import check_page

    try:
        page = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise errors.UsageError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        return VerifyReport(0, 0, [f"{path}: not a drkit HTML report (not UTF-8 text)"], "report")
    ring = key_ring(ws, policies)
    check = check_page(page, ring.keys)
    if check.key_id and check.key_id not in ring.keys:
        ring.cover([check.key_id])
        check = check_page(page, ring.keys)
    return VerifyReport(1, check.policies, [f"{path}: {p}" for p in check.problems], "report")


# --- entry ---------------------------------------------------------------------------------------

def verify(ws: Workspace, policies: list[Policy], *, files: list[Path] | None = None,
           remote: bool = False, repository: str | None = None) -> VerifyReport:
    """Check the catalog (default), the given files, or the bucket copies (`remote`: every
    repository's bucket on its own, each must hold the whole chain; `repository`: only its)."""
    ring = key_ring(ws, policies)
    if remote:
        return _verify_buckets(ws, policies, ring, repository)
    if files:
        items, source, open_start = file_items(files), "files", True
    else:
        items, source, open_start = catalog_items(ws), "catalog", False
    ring.cover(i.record.key_id for i in items if i.record is not None)
    report = check_items(items, ring.keys, open_start=open_start, source=source)
    report.problems = ring.problems + report.problems
    return report


def _verify_buckets(ws: Workspace, policies: list[Policy], ring: KeyRing, repository: str | None) -> VerifyReport:
    places = evidence_buckets(ws, policies, repository)
    if not places:
        if repository is not None:
            raise errors.UsageError(f"--repository {repository}: no loaded policy has an S3 repository of that name",
                                    hint="see each policy's repositories with: drkit policy explain NAME")
        raise errors.UsageError("--remote: no loaded policy keeps its evidence in an S3 bucket")
    ring.load_all()  # reading the buckets anyway: take their keys too
    found = [remote_items(ws, place) for place in places]
    ring.cover(i.record.key_id for items, _ in found for i in items if i.record is not None)
    problems, records = list(ring.problems), set()
    for items, missing in found:
        # each bucket on its own: a record present in one bucket does not cover its loss from another
        problems += check_items(items, ring.keys, source="remote").problems + list(missing.values())
        records |= {i.record.digest() if i.record is not None else i.name for i in items}
    problems += _compared(places, found)
    return VerifyReport(len(records), len({p.policy.name for p in places}), problems, "remote")


def _compared(places: list[Bucket], found: list[tuple[list[Item], dict[str, str]]]) -> list[str]:
    """Every bucket of a policy must hold every record its other buckets hold (any one bucket alone
    rebuilds the catalog): this also catches a deleted tail, or a whole bucket emptied, that no local
    catalog remembers uploading (an auditor's machine, a rebuilt catalog)."""
    # per bucket: the records it holds, and those remote_items already named as missing (not twice)
    by_policy: dict[str, list[tuple[Bucket, dict[str, Item], dict[str, str]]]] = defaultdict(list)
    for place, (items, missing) in zip(places, found):
        held = {i.record.digest(): i for i in items if i.record is not None}
        by_policy[place.policy.name].append((place, held, missing))
    problems: list[str] = []
    for buckets in by_policy.values():
        if len(buckets) < 2:
            continue
        for place, held, missing in buckets:
            where = f"s3://{place.s3.location.bucket}/{place.s3.evidence_prefix(place.policy.name)}"
            others = {d: (other, i) for other, h, _ in buckets if other is not place for d, i in h.items()}
            for digest, (other, item) in sorted(others.items(), key=lambda kv: kv[1][1].record.finished_at):
                if digest not in held and digest not in missing:
                    record = item.record
                    problems.append(f"{where}: {record.kind} record finished {utc_text(record.finished_at)} "
                                    f"(digest {digest[:12]}…) is in repository {other.repository}'s bucket but "
                                    "missing from this one (deleted? or not uploaded yet: a later run uploads it)")
    return problems

