"""`drkit restore`: put a snapshot's data back where a person needs it, verified and recorded.

A restore is a job like the others (drkit/jobs/lifecycle.py): it holds the policy's lock, ends in
one status and writes one signed evidence record of kind `restore` (docs/recovery.md). Flow:
vet the target (a refusal writes nothing and records nothing) -> choose the snapshot (the drill's
selection: latest, before:TIME or an id) -> list it and fetch its manifest -> `restic restore
--verify` (only the --include paths, when given) -> verify every restored file: the tree against
`restic ls`, the content against the manifest (the drill's verification) -> evidence.

Unlike a drill, the restored data stays whatever the verdict: the person needs it, and the verdict
says whether it can be trusted. Paths keep their absolute location below the target:
`/srv/shop/uploads` lands in `TARGET/srv/shop/uploads`; `--in-place` restores into `/`, over the
live data, and only after an explicit confirmation.
"""

from __future__ import annotations

import getpass
import os
import posixpath
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from drkit.core import errors
from drkit.core.display import count_of, format_size, format_when
from drkit.core.policy import Policy
from drkit.engines.manifest import Manifest
from drkit.engines.restic import Listing, Node, Restic, Snapshot
from drkit.engines.workspace import Workspace
from drkit.evidence.payloads import RestoreMeasured
from drkit.jobs.drill.authenticity import backup_evidence, check_manifest, known_manifest_path
from drkit.jobs.drill.sandbox import free_bytes, overlap_reason, protected_paths, resolve, space_reason
from drkit.jobs.drill.selection import SnapshotChooser
from drkit.jobs.drill.verdict import DrillFailed, check_restored, damage_or, restore_failure
from drkit.jobs.drill.verification import (
    HASH_WORKERS,
    MAX_LISTED,
    HashCheck,
    HashJob,
    check_tree,
    collect_hashes,
    count_nodes,
    find_manifest,
    in_sandbox,
    plan_hashes,
    submit_hashes,
)
from drkit.jobs.lifecycle import RunContext, RunOutcome, describe_snapshot_run, register_job, run_locked
from drkit.targets import target_kind

ROOT = Path("/")


class RestoreProgress(Protocol):
    """What a terminal shows while a restore runs (drkit/cli/restore.py); bytes throughout."""

    def start(self, phase: str, total: int) -> None: ...

    def update(self, done: int) -> None: ...


@dataclass(frozen=True)
class RestoreRequest:
    policy: Policy
    target: Path | None = None       # None with in_place: every path goes back where it was
    snapshot: str = "latest"         # latest | before:TIME | snapshot id
    include: tuple[str, ...] = ()    # absolute snapshot paths; empty: the whole snapshot
    force: bool = False              # restore into a non-empty target
    in_place: bool = False
    confirm: Callable[[str], bool] | None = None  # asked before overwriting live data; None: refuse
    progress: RestoreProgress | None = None
    to_database: str | None = None   # load a database dump into this server (DSN / option file) instead
    database: str | None = None      # which dumped database (--database); None: the snapshot's only one
    repository: str | None = None    # restore from this repository of the policy (a copy); None: the first


@dataclass(frozen=True)
class Landing:
    """Where one of the policy's targets is after the restore, and how to put it back."""

    label: str       # the target, e.g. "path /srv/shop/uploads"
    path: Path       # its restored copy
    restored: str    # "whole", "part" (an --include inside it) or "no"
    put_back: str    # the target kind's instruction, for this restore's location; "" when in place

    def as_dict(self) -> dict[str, str]:
        return {"target": self.label, "path": str(self.path), "restored": self.restored, "put_back": self.put_back}


@dataclass
class RestoreDetail:
    """What a restore adds to its outcome (`detail` of drkit.run/1, docs/json.md)."""

    target: Path
    in_place: bool
    include: list[str]
    landed: list[Landing] = field(default_factory=list)
    verified: bool = False
    problems: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    database: dict[str, Any] | None = None  # --to-database: what was loaded where (DatabaseLoadMeasured)

    def to_json(self) -> dict[str, Any]:
        return {"target": str(self.target), "in_place": self.in_place, "include": self.include,
                "landed": [landing.as_dict() for landing in self.landed], "verified": self.verified,
                "problems": self.problems, "next_steps": self.next_steps, "database": self.database}


def run_restore(ws: Workspace, request: RestoreRequest, *, notify: bool = True) -> RunOutcome:
    """One restore under the policy lock; a refused one (target, snapshot, --include) records nothing."""
    if request.repository is not None:
        request.policy.repository_named(request.repository)  # an unknown name: usage error before anything runs
    body = _Restore
    if request.to_database is not None:
        from drkit.jobs.restore_database import DatabaseRestore  # it builds on _Restore
        body = DatabaseRestore
    return run_locked(ws, request.policy, "restore", lambda ctx: body(ctx, request).run(), notify=notify,
                      repository=request.repository)


register_job("restore", None, describe_snapshot_run)  # only on request: a restore needs a target


def current_user() -> str:
    """Who restored: the sudo caller rather than root, else the login name."""
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):  # a uid without a passwd entry (containers)
        return f"uid {os.getuid()}"


def normalized_includes(paths: tuple[str, ...], policy: str) -> list[str]:
    """Absolute snapshot paths without trailing slashes; a relative one is a usage error."""
    found = []
    for path in paths:
        if not path.startswith("/"):
            raise errors.UsageError(f"--include {path}: give the absolute path the data had when it was backed up",
                                    hint=f"see them with: drkit ls {policy}")
        found.append(posixpath.normpath(path) if path != "/" else path)
    return list(dict.fromkeys(found))


def selector(includes: list[str]) -> Callable[[str], bool]:
    """Is a snapshot path restored? (an --include restores its path and everything below it)"""
    if not includes or "/" in includes:
        return lambda _path: True
    return lambda path: any(path == inc or path.startswith(inc + "/") for inc in includes)


def coverage(restored_path: str, includes: list[str]) -> str:
    """How much of a target's snapshot path the includes restore: whole, part or no."""
    if selector(includes)(restored_path):
        return "whole"
    return "part" if any(inc.startswith(restored_path.rstrip("/") + "/") for inc in includes) else "no"


def landings(policy: Policy, staging: str, target: Path, includes: list[str], listed: set[str] | None, *,
             in_place: bool) -> list[Landing]:
    """Where each of the policy's targets landed: `TARGET/<its absolute snapshot path>` (restored
    "no" when the snapshot does not hold it, e.g. one made by plain restic; `listed` None: a plan
    for a snapshot not listed, every target assumed in it)."""
    found = []
    base = str(target).rstrip("/")
    for item in policy.targets:
        kind = target_kind(item)
        snapshot_path = str(kind.restored_path(item, Path(staging)))
        restored = in_sandbox(target, snapshot_path)
        relative = snapshot_path.lstrip("/")
        put_back = kind.runbook(item, relative).replace("$RESTORE", base)
        live = [str(live.path) for live in kind.live_paths(item)]
        already = in_place and snapshot_path in live
        covered = coverage(snapshot_path, includes) if listed is None or snapshot_path in listed else "no"
        found.append(Landing(kind.label(item), restored, covered, "" if already else put_back))
    return found


class _Restore:
    def __init__(self, ctx: RunContext, request: RestoreRequest):
        self.ctx = ctx
        self.request = request
        self.policy = request.policy
        self.includes = normalized_includes(request.include, request.policy.name)
        self.selected = selector(self.includes)
        self.target = ROOT if request.in_place else resolve(request.target or Path("."))
        self.measured: dict[str, Any] = {
            "user": current_user(), "snapshot_selector": request.snapshot, "target": str(self.target),
            "in_place": request.in_place, "include": self.includes, "forced": request.force or request.in_place}
        self.detail = RestoreDetail(self.target, request.in_place, self.includes,
                                    next_steps=list(self.policy.post_restore))

    def run(self) -> None:
        ctx = self.ctx
        ctx.detail = self.detail
        try:
            self._run()
        except errors.VerificationError as exc:
            self.detail.problems = getattr(exc, "problems", None) or [exc.message]
            ctx.problems = self.detail.problems[:MAX_LISTED]
            raise
        finally:
            ctx.measured = RestoreMeasured.model_validate(self.measured)

    def _run(self) -> None:
        ctx = self.ctx
        with ctx.phase("preflight"):
            self._vet_target()
            restic, chooser, listing, snapshot = self._choose()
            nodes = self._selected_nodes(listing, snapshot)
            manifest, manifest_path = self._manifest(restic, listing, snapshot)
            self._prepare(snapshot, nodes)
        with ctx.phase("restore"):
            self._restore(restic, snapshot, chooser)
        with ctx.phase("verify"):
            self._verify(nodes, manifest, manifest_path)

    # --- preflight -------------------------------------------------------------------------------

    def _choose(self) -> tuple[Restic, SnapshotChooser, Listing, Snapshot]:
        """The snapshot asked for (latest, before:TIME, an id) and its listing."""
        ctx = self.ctx
        restic = ctx.restic()
        chooser = SnapshotChooser(self.policy, self.request.snapshot, ctx.ws.catalog, restic, ctx.started_at,
                                  allow_random=False, what="restore", copy=self.policy.copy_named(ctx.repository))
        choice = chooser.choose()
        self.measured.update(chooser.measured)
        ctx.warnings += chooser.warnings
        listing = self._list(restic, choice.selector, chooser)
        return restic, chooser, listing, listing.snapshot  # type: ignore[return-value]

    def _vet_target(self) -> None:
        """Refuse (usage error, nothing written) a target over live data or with something in it."""
        request = self.request
        if request.in_place:
            if request.target is not None:
                raise errors.UsageError("--in-place puts every path back where it was; leave out --target")
            return
        if request.target is None:
            raise errors.UsageError("name the directory to restore into with --target DIR "
                                    "(or --in-place to overwrite the live data)")
        reason = overlap_reason(self.target, protected_paths(self.policy, self.ctx.ws.state_dir))
        if reason:
            raise errors.UsageError(reason.replace("sandbox", "target", 1),
                                    hint="choose another --target, or pass --in-place to overwrite the live data")
        if os.path.lexists(self.target) and not self.target.is_dir():
            raise errors.UsageError(f"target {self.target} exists and is not a directory")
        entries = len(os.listdir(self.target)) if self.target.is_dir() else 0
        if entries and not request.force:
            raise errors.UsageError(f"target {self.target} is not empty ({entries} entr{'y' if entries == 1 else 'ies'})",
                                    hint="choose an empty or new directory, or pass --force to write into it; "
                                         "same-named files are overwritten")

    def _list(self, restic: Restic, choice: str, chooser: SnapshotChooser) -> Listing:
        try:
            listing = restic.list_snapshot(choice)
        except errors.DrkitError as exc:
            raise damage_or(exc, [], what="restic ls", policy=self.policy.name) from None
        if listing.snapshot is None:
            raise chooser.not_found(listing.notes)
        self.ctx.snapshot_id, self.ctx.snapshot_time = listing.snapshot.id, listing.snapshot.time
        return listing

    def _selected_nodes(self, listing: Listing, snapshot: Snapshot) -> list[Node]:
        """The nodes the restore writes; an --include matching nothing is refused before restic runs."""
        nodes = [node for node in listing.nodes if self.selected(node.path)]
        listed = {node.path for node in listing.nodes}
        missing = [inc for inc in self.includes if inc != "/" and inc not in listed]
        if missing:
            raise errors.UsageError(f"--include {missing[0]}: no such path in snapshot {snapshot.short_id}",
                                    hint=f"see what it holds: drkit ls {self.policy.name} {snapshot.short_id}")
        counts = count_nodes(nodes)
        self.ctx.bytes, self.ctx.files = counts.bytes, counts.files
        self.measured.update(dirs_restored=counts.dirs, symlinks_restored=counts.symlinks, other_restored=counts.other)
        return nodes

    def _manifest(self, restic: Restic, listing: Listing, snapshot: Snapshot) -> tuple[Manifest | None, str | None]:
        """The manifest from the snapshot (`restic dump`: it may lie outside the --include paths),
        authenticated by the signed backup evidence when the catalog has it."""
        ws = self.ctx.ws
        backup = backup_evidence(ws.catalog, ws.key, self.policy.name, snapshot.original_id)  # a copy's: by `original`
        path = find_manifest(listing.nodes, self.policy.name, known_manifest_path(backup))
        staging = posixpath.dirname(path) if path else str(ws.state_dir / "staging" / self.policy.name)
        self.detail.landed = landings(self.policy, staging, self.target, self.includes,
                                      {node.path for node in listing.nodes}, in_place=self.request.in_place)
        if path is None:
            return None, None
        try:
            data = b"".join(restic.dump(snapshot.id, path))
        except errors.DrkitError as exc:
            raise damage_or(exc, [], what="restic dump", policy=self.policy.name) from None
        return check_manifest(data, path, backup, self.measured), path

    def _prepare(self, snapshot: Snapshot, nodes: list[Node]) -> None:
        """Space, confirmation for an in-place restore, then the target directory (0700 when new)."""
        if self.request.in_place:
            self._confirm(snapshot)
            clear_the_way(nodes, self.target)
            return
        reason = space_reason(self.target, free_bytes(self.target), self.ctx.bytes, label="target")
        if reason:
            raise errors.UsageError(reason, hint="free space or choose a --target on a larger filesystem")
        if not self.target.exists():
            self.target.mkdir(parents=True, mode=0o700)
            os.chmod(self.target, 0o700)  # mkdir's mode is masked by the umask
        elif self.request.force:
            clear_the_way(nodes, self.target)

    def _confirm(self, snapshot: Snapshot) -> None:
        roots = ", ".join(self.includes or snapshot.paths)
        question = (f"Overwrite the live data under {roots} with snapshot {snapshot.short_id} of "
                    f"{format_when(snapshot.time)} UTC ({format_size(self.ctx.bytes)}, {count_of(self.ctx.files, 'file')})? "
                    "Files that are not in the snapshot are left alone.")
        if self.request.confirm is None:
            raise errors.UsageError("--in-place overwrites live data: confirm on a terminal, or pass --yes")
        if not self.request.confirm(question):
            raise errors.UsageError("in-place restore not confirmed; nothing was written")

    # --- restore and verify ----------------------------------------------------------------------

    def _restore(self, restic: Restic, snapshot: Snapshot, chooser: SnapshotChooser) -> None:
        stderr: list[str] = []
        with watching_disk(self.target, self.ctx.bytes, self.request.progress):
            try:
                restic.restore_verified(snapshot.id, self.target, includes=self.includes, on_stderr=stderr.append)
            except errors.DrkitError as exc:
                raise restore_failure(exc, stderr[-200:], policy=self.policy.name, sandbox=str(self.target),
                                      not_found=chooser.not_found, label="target", elsewhere="--target") from None

    def _verify(self, nodes: list[Node], manifest: Manifest | None, manifest_path: str | None) -> None:
        """The drill's verification, on what this restore wrote (docs/drill.md, "Verification")."""
        tree = check_tree(nodes, self.target)
        hashes = HashCheck()
        if manifest is not None:
            hashes = self._hash(nodes, manifest, manifest_path)
        check_restored(manifest, tree, hashes, self.selected)
        if manifest is None:
            raise DrillFailed(f"restored {count_of(self.ctx.files, 'file')} into {self.target}, but cannot verify them: the "
                              "snapshot has no drkit manifest (made by plain restic?); only restic's own --verify "
                              "vouches for them")
        self.measured["verified"] = self.detail.verified = True

    def _hash(self, nodes: list[Node], manifest: Manifest, manifest_path: str | None) -> HashCheck:
        plan = plan_hashes(nodes, manifest, percent=100, seed=None, skip=frozenset({manifest_path or ""}))
        with ThreadPoolExecutor(HASH_WORKERS, thread_name_prefix="restore-hash") as pool:
            pending = submit_hashes(pool, self.target, plan)
            showing_hashes(pending, self.request.progress)
            hashes = collect_hashes(pending)
        self.measured.update(files_hashed=hashes.files_hashed, bytes_hashed=hashes.bytes_hashed,
                             changed_during_backup=len(plan.changed_during_backup),
                             not_in_manifest=len(plan.not_in_manifest))
        return hashes


def clear_the_way(nodes: list[Node], target: Path) -> None:
    """Before restoring over existing data: remove the symlinks and files standing where the snapshot
    has something else, and refuse a directory standing where it has none.

    restic 0.14 fails on an existing symlink ("file exists") and writes *through* a symlink standing
    where a file or directory belongs, which could reach outside the target. Checked before anything
    is written, so a refusal leaves the target as it was."""
    doomed: list[Path] = []
    for node in nodes:
        path = in_sandbox(target, node.path)
        if not os.path.lexists(path):
            continue
        if path.is_symlink():
            doomed.append(path)
        elif path.is_dir():
            if node.type != "dir":
                raise errors.UsageError(f"{path} is a directory, the snapshot has a {node.type} there",
                                        hint="move the directory away, or restore into an empty --target")
        elif not (node.type == "file" and path.is_file()):  # restic overwrites regular files only
            doomed.append(path)
    for path in doomed:
        path.unlink()


def showing_hashes(pending: list[tuple[HashJob, Future]], progress: RestoreProgress | None) -> None:
    """The verify phase on the bar: bytes hashed of bytes to hash, advanced as each file's hash ends."""
    if progress is None:
        return
    progress.start("verify", sum(job.size for job, _future in pending))
    done = [0]
    lock = threading.Lock()

    def advance(size: int) -> None:
        with lock:
            done[0] += size
            progress.update(done[0])

    for job, future in pending:
        future.add_done_callback(lambda _f, size=job.size: advance(size))


@contextmanager
def watching_disk(target: Path, total: int, progress: RestoreProgress | None) -> Iterator[None]:
    """Report restore progress as the growth of the target's filesystem: restic 0.14 prints no
    progress for `restore`, and walking the tree would cost more than the restore."""
    if progress is None:
        yield
        return
    progress.start("restore", total)
    stop = threading.Event()
    start = shutil.disk_usage(target if target.exists() else target.parent).used

    def watch() -> None:
        while not stop.wait(0.5):
            try:
                used = shutil.disk_usage(target).used
            except OSError:
                continue
            progress.update(max(0, min(total, used - start)))

    thread = threading.Thread(target=watch, name="restore-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(2)
        progress.update(total)
