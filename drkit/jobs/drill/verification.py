"""Does the sandbox hold what the snapshot holds, with the content drkit hashed at backup time?

restic's exit code is not trusted alone. Two independent checks follow `restore --verify`:
1. every node that `restic ls` lists exists in the sandbox with its type (and size, for files);
2. content hashes of restored files (all, or a seeded random sample) equal the sha256 manifest
   written at backup time and stored inside the snapshot.
A file whose snapshot size/mtime differ from its manifest entry changed between drkit hashing it
and restic reading it: no hash can vouch for it, so it counts as `changed_during_backup` (restic's
own --verify covered it) instead of failing. Planning and comparing are pure; hashing is I/O.
"""

from __future__ import annotations

import math
import os
import random
import re
import stat
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from drkit.engines.manifest import MANIFEST_NAME, Manifest, sha256_file
from drkit.engines.restic import Node

MAX_LISTED = 20  # problems named in evidence and output; the counts cover the rest
HASH_WORKERS = min(4, os.cpu_count() or 2)  # next to restic's own read-back, which uses a core too


def hash_workers(*, restic_reads_back: bool) -> int:
    """Hashing threads: every core this process may use when drkit alone reads the restored files
    back (restic is done by then), HASH_WORKERS beside restic's own `--verify` read-back."""
    if restic_reads_back:
        return HASH_WORKERS
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2

# restic node type -> predicate on st_mode. Sockets are not restored by restic (skipped).
_TYPE_CHECKS = {
    "file": stat.S_ISREG,
    "dir": stat.S_ISDIR,
    "symlink": stat.S_ISLNK,
    "fifo": stat.S_ISFIFO,
    "dev": stat.S_ISBLK,
    "chardev": stat.S_ISCHR,
}
_NOT_RESTORED = {"socket"}

_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def mtime_ns(text: str) -> int | None:
    """restic's RFC 3339 mtime (nanoseconds, any offset) as integer ns since the epoch, exactly."""
    match = _TIME_RE.match(text.strip())
    if not match:
        return None
    whole, frac, zone = match.groups()
    zone = "+00:00" if zone == "Z" else zone
    seconds = int(datetime.fromisoformat(whole + zone).timestamp())
    return seconds * 1_000_000_000 + int(((frac or "") + "000000000")[:9])


def in_sandbox(sandbox: Path, snapshot_path: str) -> Path:
    """Where restic restores an absolute snapshot path: sandbox/<path without the leading />."""
    return sandbox / snapshot_path.lstrip("/")


# --- 1. the tree ---------------------------------------------------------------------------------

def node_problem(node: Node, st: os.stat_result | None) -> str | None:
    """Why a restored node does not match its `restic ls` entry, or None."""
    if node.type in _NOT_RESTORED:
        return None
    if st is None:
        return f"{node.path}: missing ({node.type})"
    check = _TYPE_CHECKS.get(node.type)
    if check is not None and not check(st.st_mode):
        return f"{node.path}: is not a {node.type}"
    if node.type == "file" and st.st_size != node.size:
        return f"{node.path}: size {st.st_size:,} bytes, snapshot has {node.size:,}"
    return None


@dataclass
class Problems:
    """Counts every problem, keeps the first MAX_LISTED for the evidence (a wrecked tree would
    otherwise produce a record as large as its listing)."""

    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    def add(self, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(problem)


@dataclass
class TreeCheck(Problems):
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    other: int = 0
    bytes: int = 0


def count_nodes(nodes: list[Node]) -> TreeCheck:
    """What the snapshot holds (counts and file bytes), without looking at the sandbox."""
    tree = TreeCheck()
    for node in nodes:
        if node.type == "file":
            tree.files += 1
            tree.bytes += node.size
        elif node.type == "dir":
            tree.dirs += 1
        elif node.type == "symlink":
            tree.symlinks += 1
        else:
            tree.other += 1
    return tree


def check_tree(nodes: list[Node], sandbox: Path) -> TreeCheck:
    """lstat every node in the sandbox (symlinks are never followed out of it)."""
    tree = count_nodes(nodes)
    for node in nodes:
        try:
            st = os.lstat(in_sandbox(sandbox, node.path))
        except FileNotFoundError:
            st = None
        except OSError as exc:
            tree.add(f"{node.path}: cannot stat ({exc.strerror})")
            continue
        problem = node_problem(node, st)
        if problem:
            tree.add(problem)
    return tree


# --- 2. content ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HashJob:
    path: str  # as in the snapshot (absolute source path)
    size: int
    sha256: str  # expected, from the manifest


@dataclass
class HashPlan:
    jobs: list[HashJob]
    candidates: int  # files whose content the manifest can vouch for
    changed_during_backup: list[str]
    not_in_manifest: list[str]  # in the snapshot, not hashed at backup (created after hashing)
    manifest_only: int  # hashed at backup, absent from the snapshot (deleted before restic read it)
    seed: int | None


def plan_hashes(files: list[Node], manifest: Manifest, *, percent: float, seed: int | None,
                skip: frozenset[str] = frozenset()) -> HashPlan:
    """Choose which restored files to hash and what each must hash to.

    `percent` 100 hashes every comparable file; below, a sample of ceil(percent % of them), drawn
    with `random.Random(seed)` so the evidence can name exactly which files were checked.
    """
    comparable: list[HashJob] = []
    changed: list[str] = []
    unknown: list[str] = []
    seen: set[str] = set()
    for node in files:
        if node.type != "file" or node.path in skip:
            continue
        seen.add(node.path)
        entry = manifest.files.get(node.path)
        if entry is None:
            unknown.append(node.path)
        elif entry.size != node.size or entry.mtime_ns != mtime_ns(node.mtime):
            changed.append(node.path)
        else:
            comparable.append(HashJob(node.path, node.size, entry.sha256))
    manifest_only = sum(1 for p in manifest.files if p not in seen)
    if percent >= 100:
        jobs, seed = comparable, None
    else:
        k = min(len(comparable), math.ceil(len(comparable) * percent / 100))
        jobs = random.Random(seed).sample(sorted(comparable, key=lambda j: j.path), k)
    return HashPlan(jobs, len(comparable), changed, unknown, manifest_only, seed)


@dataclass
class HashCheck(Problems):
    files_hashed: int = 0
    bytes_hashed: int = 0


def hash_problem(job: HashJob, actual: str | None, error: str | None = None) -> str | None:
    if error:
        return f"{job.path}: cannot read restored file ({error})"
    if actual != job.sha256:
        return f"{job.path}: content differs from the backup manifest (sha256 {str(actual)[:12]}…, expected {job.sha256[:12]}…)"
    return None


def _hash_one(sandbox: Path, job: HashJob) -> tuple[str | None, str | None]:
    try:
        return sha256_file(in_sandbox(sandbox, job.path)), None
    except OSError as exc:
        return None, exc.strerror or str(exc)


def submit_hashes(pool: Executor, sandbox: Path, plan: HashPlan) -> list[tuple[HashJob, Future]]:
    """Start hashing on the pool (hashlib releases the GIL: threads use every core)."""
    jobs = sorted(plan.jobs, key=lambda j: -j.size)  # big files first: shorter tail
    return [(job, pool.submit(_hash_one, sandbox, job)) for job in jobs]


def collect_hashes(pending: list[tuple[HashJob, Future]]) -> HashCheck:
    result = HashCheck()
    for job, future in pending:
        actual, error = future.result()
        result.files_hashed += 1
        result.bytes_hashed += job.size
        problem = hash_problem(job, actual, error)
        if problem:
            result.add(problem)
    return result


def manifest_problem(digest: str, expected: str | None) -> str | None:
    """Why the manifest restored from a snapshot cannot vouch for its files, or None.

    `expected` is the `manifest_sha256` of the snapshot's signed backup record (None: no record
    of this host's, e.g. plain restic or another host). A manifest that differs from the signed
    one could have been rewritten together with the data it describes (docs/drill.md)."""
    if expected is not None and expected != digest:
        return (f"the manifest in the snapshot does not match the signed backup evidence "
                f"(sha256 {digest[:12]}…, evidence {expected[:12]}…)")
    return None


def find_manifest(nodes: list[Node], policy: str, known_path: str | None) -> str | None:
    """Snapshot path of drkit's manifest: the one the backup evidence names, else
    `…/staging/<policy>/drkit-manifest.json` in the listing."""
    files = {n.path for n in nodes if n.type == "file"}
    if known_path and known_path in files:
        return known_path
    suffix = f"/staging/{policy}/{MANIFEST_NAME}"
    return next((p for p in sorted(files) if p.endswith(suffix)), None)
