"""Restore drill (docs/drill.md): restore a snapshot into a sandbox, prove it is complete and
correct, run the policy's checks, and measure the recovery time (RTA) against the RTO.

Flow: preflight (vet the sandbox, pick the snapshot, check free space) -> `restic restore` while
`restic ls` lists the snapshot -> restored files hashed on a thread pool -> verify the tree and
the hashes against
the manifest stored in the snapshot -> a throw-away server per database target, its dumps loaded
(drkit/jobs/drill/databases.py) -> checks -> one signed evidence record. Every run ends in
exactly one verdict: PASS (exit 0), BREACH (RTA > RTO, exit 3), FAIL (data or check wrong, exit 4)
or ERROR (could not run, exit 1; a refused sandbox or snapshot is a usage error, exit 2).
"""

from __future__ import annotations

import logging
import posixpath
import random
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from drkit.checks import CheckContext, CheckResult, run_check
from drkit.core import errors
from drkit.core.durations import format_duration
from drkit.core.outcome import VERDICT, evidence_result
from drkit.core.policy import Policy
from drkit.engines.manifest import Manifest
from drkit.engines.restic import Listing, Restic, Snapshot, terminate_running
from drkit.engines.workspace import Workspace
from drkit.evidence.payloads import DrillMeasured
from drkit.evidence.records import Record
from drkit.jobs.drill.authenticity import backup_evidence, check_manifest, known_manifest_path
from drkit.jobs.drill.clock import Stopwatch
from drkit.jobs.drill.databases import CHECKS_PHASE, DatabaseStage
from drkit.jobs.drill.sandbox import FirstByteWatch, Sandbox, protected_paths
from drkit.jobs.drill.selection import Choice, SnapshotChooser
from drkit.jobs.drill.verdict import (
    DrillFailed,
    Verdict,
    check_restored,
    damage_or,
    restore_failure,
    select_verdict,
)
from drkit.jobs.drill.verification import (
    HASH_WORKERS,
    MAX_LISTED,
    HashCheck,
    HashPlan,
    TreeCheck,
    check_tree,
    collect_hashes,
    count_nodes,
    find_manifest,
    hash_workers,
    in_sandbox,
    plan_hashes,
    submit_hashes,
)
from drkit.jobs.lifecycle import RunContext, RunOutcome, register_job, run_locked
from drkit.jobs.listing import repository_ids
from drkit.jobs.restore import RestoreProgress, showing_hashes, watching_disk
from drkit.targets import target_kind

log = logging.getLogger("drkit")

PHASES = ("preflight", "restore", "verify", "db_start:<target>", "db_load:<database>", "checks",
          "queries:<database>")


@dataclass(frozen=True)
class DrillRequest:
    policy: Policy
    policy_file: Path | None = None
    snapshot: str = "latest"  # latest | random | snapshot id (short or full)
    sandbox: Path | None = None
    keep: bool = False
    repository: str | None = None  # drill from this repository of the policy (a copy); None: the first
    progress: RestoreProgress | None = None  # a terminal's bar (drkit/cli/progress.py); None: silent


@dataclass
class DrillDetail:
    """What a drill adds to its outcome."""

    problems: list[str] = field(default_factory=list)
    kept_sandbox: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {"problems": self.problems, "kept_sandbox": str(self.kept_sandbox) if self.kept_sandbox else None}


def verdict_of(outcome: RunOutcome) -> str:
    """PASS, BREACH, FAIL or ERROR: the drill's word for how the run ended (drkit/core/outcome.py)."""
    result = evidence_result(outcome.status, outcome.error)
    return VERDICT.get(result, "ERROR") if result else "ERROR"


def run_drill(ws: Workspace, request: DrillRequest, clock: Stopwatch | None = None, *,
              notify: bool = True) -> RunOutcome:
    """One drill under the policy lock; every outcome, failures included, comes back as a
    RunOutcome with signed evidence (a refused sandbox or snapshot id records nothing)."""
    clock = clock or Stopwatch()
    if request.repository is not None:
        request.policy.repository_named(request.repository)  # an unknown name: usage error before anything runs
    return run_locked(ws, request.policy, "drill", lambda ctx: _Drill(ctx, request, clock).run(),
                      started_at=clock.started_at, notify=notify, repository=request.repository)


def describe(outcome: RunOutcome) -> str:
    return f"drill {outcome.status}"


register_job("drill", lambda ws, policy, policy_file: run_drill(ws, DrillRequest(policy, policy_file)), describe)


class _Drill:
    def __init__(self, ctx: RunContext, request: DrillRequest, clock: Stopwatch):
        self.ctx = ctx
        self.ws = ctx.ws
        self.request = request
        self.policy = request.policy
        self.clock = clock
        self.restic: Restic | None = None
        self.sandbox: Sandbox | None = None
        self.snapshot: Snapshot | None = None
        self.listing: Listing | None = None
        self.counts = TreeCheck()
        self.backup: Record | None = None
        self.manifest_path: str | None = None
        self.manifest: Manifest | None = None
        self.checks: list[CheckResult] = []
        self.databases = DatabaseStage(self.policy, clock)
        self.problems: list[str] = []
        self.hash_workers = HASH_WORKERS  # set per mode when the restore starts
        self.measured: dict[str, Any] = {"snapshot_selector": request.snapshot, "verify": self.policy.drill.verify}

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> None:
        """Run the phases; hand the lifecycle what was measured, then raise what the verdict says."""
        try:
            failed, error = self._execute()
            phases, rta = self.clock.finish()
            self.ctx.warnings += self.databases.close()  # the clock has stopped: the service was back
            verdict, error = self._judge(failed, error, rta)
            kept = self._keep(verdict)
        except BaseException:
            self.databases.close()  # Ctrl-C: no throw-away server outlives the drill
            if self.sandbox is not None:  # interrupted: never leave a half-restored tree behind
                self.sandbox.discard()
            raise
        ctx = self.ctx
        ctx.phases, ctx.finished_at = phases, self.clock.started_at + timedelta(seconds=rta)
        if self.snapshot is not None:
            ctx.snapshot_id, ctx.snapshot_time = self.snapshot.id, self.snapshot.time
        ctx.bytes, ctx.files = self.counts.bytes, self.counts.files
        ctx.measured = DrillMeasured.model_validate(self._measured(phases, rta, kept))
        ctx.problems = self.problems[:MAX_LISTED]
        ctx.detail = DrillDetail(self.problems, kept)
        if kept is None:  # the clock has stopped: remove the tree while the evidence is signed and uploaded
            ctx.background = self._remove_sandbox
        if error is None and verdict == "BREACH":
            error = errors.BreachError(f"{self.policy.name}: recovery took {format_duration(rta)}, over the RTO "
                                       f"{format_duration(self.policy.objectives.rto.total_seconds())}")
        if error is not None:
            raise error

    def _execute(self) -> tuple[bool, errors.DrkitError | None]:
        """Run the phases; (verification failed?, what stopped the drill)."""
        try:
            choice = self._preflight()
            self._restore_and_verify(choice)
            self._run_checks()
            return False, None
        except errors.VerificationError as exc:  # DrillFailed, or signed evidence lacking a promised field
            self.problems = getattr(exc, "problems", None) or [exc.message]
            return True, exc
        except errors.DrkitError as exc:
            return False, exc
        except Exception as exc:  # noqa: BLE001 - a drill bug must end as ERROR with evidence
            log.debug("drill internal error", exc_info=True)
            return False, errors.DrkitError(f"internal error: {type(exc).__name__}: {exc}")

    def _judge(self, failed: bool, error: errors.DrkitError | None,
               rta: float) -> tuple[Verdict, errors.DrkitError | None]:
        """The verdict, and the error that explains it (a check's, when the run itself went fine)."""
        failed_checks = [c for c in self.checks if not c.passed and not c.error]
        errored_checks = [c for c in self.checks if c.error]
        verdict = select_verdict(failed=failed or bool(failed_checks), errored=error is not None or bool(errored_checks),
                                 rta_s=rta, rto_s=self.policy.objectives.rto.total_seconds())
        if error is None and failed_checks:
            error = DrillFailed(f"check failed: {failed_checks[0].name}: {failed_checks[0].detail}")
            self.problems = [f"check failed: {c.name}: {c.detail}" for c in failed_checks]
        elif error is None and errored_checks:
            error = errors.DrkitError(f"check could not run: {errored_checks[0].name}: {errored_checks[0].detail}")
        return verdict, error

    # --- preflight -------------------------------------------------------------------------------

    def _preflight(self) -> Choice:
        self.clock.begin("preflight")
        policy = self.policy
        self.sandbox = Sandbox.choose(self.request.sandbox, parent=policy.drill.sandbox, policy=policy.name,
                                      protected=protected_paths(policy, self.ws.state_dir), now=self.clock.started_at)
        self.measured["sandbox"] = str(self.sandbox.path)
        self.restic = self.ctx.restic()
        # The catalog's listing is the first repository's: a drill from a copy asks restic instead.
        copy = policy.copy_named(self.ctx.repository)
        self.chooser = SnapshotChooser(policy, self.request.snapshot, self.ws.catalog, self.restic,
                                       self.clock.started_at,
                                       list_ids=(lambda: repository_ids(self.ws, policy)) if copy is None else None,
                                       copy=copy)
        choice = self.chooser.choose()
        self.measured.update(self.chooser.measured)
        self.ctx.warnings += self.chooser.warnings
        size = self.chooser.known_size(choice.expected_id)
        if size is None:
            # Nothing recorded about this snapshot (plain restic, or another host's): list it
            # first, so free space is checked before anything is written.
            listing = self._list(choice)
            self._adopt(listing, choice)
            choice = Choice(listing.snapshot.id, (), listing.snapshot.id, listing)  # type: ignore[union-attr]
            size = self.counts.bytes
        self.measured["size_estimate"] = size
        self.sandbox.check_space(size)
        self.sandbox.open()
        return choice

    def _list(self, choice: Choice) -> Listing:
        assert self.restic is not None
        try:
            return self.restic.list_snapshot(choice.selector, tags=choice.tags)
        except errors.DrkitError as exc:
            raise damage_or(exc, [], what="restic ls", policy=self.policy.name) from None

    def _adopt(self, listing: Listing, choice: Choice) -> None:
        """Take the listed snapshot as the drill's: counts, its backup evidence, its manifest."""
        if listing.snapshot is None:
            raise self.chooser.not_found(listing.notes)
        self.listing, self.snapshot = listing, listing.snapshot
        self.counts = count_nodes(listing.nodes)
        if choice.expected_id and choice.expected_id != listing.snapshot.id:
            self.measured["catalog_was_stale"] = True  # the local snapshot list missed a newer one
        # A copy's snapshot has its own id; `original` names the backup that made it (docs/repositories.md).
        if listing.snapshot.original:
            self.measured["original_snapshot"] = listing.snapshot.original
        self.backup = backup_evidence(self.ws.catalog, self.ws.key, self.policy.name, listing.snapshot.original_id)
        if self.backup is not None:
            self.measured["backup_record"] = self.backup.digest()
        self.manifest_path = find_manifest(listing.nodes, self.policy.name, known_manifest_path(self.backup))
        if self.manifest_path is None:
            raise DrillFailed(f"cannot verify: snapshot {listing.snapshot.short_id} has no drkit manifest "
                              "(made by plain restic?); restic restore alone proves no content")

    # --- restore + verify -------------------------------------------------------------------------

    def _restore_and_verify(self, choice: Choice) -> None:
        """restore and ls side by side, then hash the restored files on every core.

        With `verify: full` drkit hashes every file against the backup-time manifest, which proves
        more than restic's `--verify` (end to end from the source, not from the repository), so
        restic does not read the files back as well and each file is read once. With `sample:N%`
        restic's read-back covers the unsampled files and drkit hashes its sample beside it.
        restic 0.14 says nothing when one file is complete, so hashing starts once every file is
        written (docs/performance.md)."""
        assert self.restic is not None and self.sandbox is not None
        self.clock.begin("restore")
        restic, target = self.restic, self.sandbox.path
        restic_reads_back = self.policy.drill.sample_percent < 100
        self.measured["restic_verify"] = restic_reads_back
        self.hash_workers = hash_workers(restic_reads_back=restic_reads_back)
        readback = threading.Event()  # restic has written every file (and reads them back now, with --verify)
        restored_ids: list[str] = []
        stderr: deque[str] = deque(maxlen=200)

        def on_line(line: str) -> None:
            if line.startswith("restoring <Snapshot "):
                restored_ids.append(line.split()[2])
            elif line.startswith("verifying files in"):
                readback.set()

        runners = ThreadPoolExecutor(2, thread_name_prefix="drill-restic")
        hashers = ThreadPoolExecutor(self.hash_workers, thread_name_prefix="drill-hash")
        first_byte = FirstByteWatch(target)  # fixed cost of the restore, for the projected full RTO
        try:
            listed = runners.submit(restic.list_snapshot, choice.selector, tags=choice.tags) if choice.listing is None else None
            restoring = runners.submit(restic.restore_verified, choice.selector, target, tags=choice.tags,
                                       on_line=on_line, on_stderr=stderr.append, readback=restic_reads_back)
            restoring.add_done_callback(lambda _f: readback.set())
            with watching_disk(target, self.measured.get("size_estimate") or 0, self.request.progress):
                readback.wait()
            if restoring.done() and restoring.exception() is not None:
                self._adopt_quietly(listed, choice)
                raise self._restore_failure(restoring.exception(), stderr)
            pending = self._start_hashing(listed, choice, hashers)
            try:
                restoring.result()
            except Exception as exc:
                raise self._restore_failure(exc, stderr) from None
            self._same_snapshot(restored_ids)
            self.clock.begin("verify")
            tree = check_tree(self.listing.nodes, target)  # type: ignore[union-attr]
            hashes = collect_hashes(pending)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # Ctrl-C: restic runs in its own session, stop it
                terminate_running(grace=5)
            raise
        finally:
            first_byte.stop()
            self.measured["restore_first_byte_s"] = first_byte.seconds
            hashers.shutdown(wait=True, cancel_futures=True)
            runners.shutdown(wait=True)  # a failed drill still waits for restic before discarding
        self._compare(tree, hashes)

    def _start_hashing(self, listed: Future | None, choice: Choice, hashers: ThreadPoolExecutor) -> list:
        """Every file is written: take the listing and the restored manifest, start hashing."""
        if listed is not None:
            try:
                listing = listed.result()
            except errors.DrkitError as exc:
                raise damage_or(exc, [], what="restic ls", policy=self.policy.name) from None
            self._adopt(listing, choice)
        self.manifest = self._load_manifest()
        plan = self._plan(self.manifest)
        pending = submit_hashes(hashers, self.sandbox.path, plan)  # type: ignore[union-attr]
        showing_hashes(pending, self.request.progress)
        return pending

    def _compare(self, tree: TreeCheck, hashes: HashCheck) -> None:
        self.measured.update(files_hashed=hashes.files_hashed, bytes_hashed=hashes.bytes_hashed)
        check_restored(self.manifest, tree, hashes)

    def _adopt_quietly(self, listed: Future | None, choice: Choice) -> None:
        """After a failed restore, still name the snapshot in the evidence when ls got it."""
        if listed is None or self.snapshot is not None:
            return
        try:
            self._adopt(listed.result(), choice)
        except Exception:  # noqa: BLE001 - the restore failure is the one to report
            pass

    def _load_manifest(self) -> Manifest:
        """The manifest restored from the snapshot, authenticated by the signed backup evidence."""
        assert self.sandbox is not None and self.manifest_path is not None
        try:
            data = in_sandbox(self.sandbox.path, self.manifest_path).read_bytes()
        except OSError as exc:
            raise DrillFailed(f"manifest {self.manifest_path} was not restored ({exc.strerror})") from None
        return check_manifest(data, self.manifest_path, self.backup, self.measured)

    def _plan(self, manifest: Manifest) -> HashPlan:
        assert self.listing is not None
        percent = self.policy.drill.sample_percent
        seed = None if percent >= 100 else random.SystemRandom().randrange(2**32)
        plan = plan_hashes(self.listing.nodes, manifest, percent=percent, seed=seed,
                           skip=frozenset({self.manifest_path or ""}))
        self.measured.update(
            sample_percent=percent, sample_seed=plan.seed, sample_size=len(plan.jobs), hash_candidates=plan.candidates,
            changed_during_backup=len(plan.changed_during_backup),
            changed_during_backup_files=plan.changed_during_backup[:MAX_LISTED],
            not_in_manifest=len(plan.not_in_manifest), not_in_manifest_files=plan.not_in_manifest[:MAX_LISTED],
            manifest_only=plan.manifest_only)
        return plan

    def _same_snapshot(self, restored_ids: list[str]) -> None:
        """restore and ls resolved their selector separately; they must have meant one snapshot."""
        assert self.snapshot is not None
        if restored_ids and not self.snapshot.id.startswith(restored_ids[0]):
            raise errors.DrkitError(f"restic restored snapshot {restored_ids[0]} but listed {self.snapshot.short_id} "
                                    "(a snapshot was added meanwhile); run the drill again")

    def _restore_failure(self, exc: BaseException | None, stderr: deque[str]) -> errors.DrkitError:
        return restore_failure(exc or errors.DrkitError("restore failed"), list(stderr), policy=self.policy.name,
                               sandbox=str(self.sandbox.path if self.sandbox else ""),
                               not_found=self.chooser.not_found,
                               command="restic restore --verify" if self.measured.get("restic_verify") else "restic restore")

    # --- checks ----------------------------------------------------------------------------------

    def _run_checks(self) -> None:
        """Start the database targets' throw-away servers, then run every check, each timed in its
        phase (`queries:<database>` for a query, `checks` for the rest)."""
        assert self.sandbox is not None
        staging = posixpath.dirname(self.manifest_path) if self.manifest_path else None
        base = self.request.policy_file.parent if self.request.policy_file else Path.cwd()
        ctx = CheckContext(self.sandbox.path, staging, self.policy, base.resolve(), self.databases)
        if self.request.progress is not None:
            self.request.progress.start("checks", 0)
        self.databases.bring_up(ctx)
        self.clock.begin(CHECKS_PHASE)
        for check in self._checks():
            self.clock.begin(self.databases.phase_of(check))
            self.checks.append(run_check(check, ctx))
        self.clock.end()

    def _checks(self) -> list[Any]:
        """The checks every drill of these targets runs (a sqlite database's integrity_check), then
        the policy's."""
        configured = list(self.policy.drill.checks)
        implicit = [check for target in self.policy.targets
                    for check in target_kind(target).drill_checks(target, configured)]
        return implicit + configured

    # --- ending ----------------------------------------------------------------------------------

    def _keep(self, verdict: Verdict) -> Path | None:
        """Keep the tree only when asked and only when it proved good. Otherwise a sandbox drkit
        created is renamed out of the way at once, so no half-restored tree stays under its name."""
        if self.sandbox is None or not self.sandbox.opened:
            return None
        if self.request.keep and verdict in ("PASS", "BREACH"):
            return self.sandbox.path
        try:
            self.sandbox.retire()
        except OSError:
            pass  # _remove_sandbox removes it in place
        return None

    def _remove_sandbox(self) -> None:
        if self.sandbox is None:
            return
        try:
            self.sandbox.discard()
        except OSError as exc:
            self.problems.append(f"could not remove sandbox {self.sandbox.path}: {exc}")
            log.warning("could not remove sandbox %s: %s", self.sandbox.path, exc)

    def _measured(self, phases: dict[str, float], rta: float, kept: Path | None) -> dict[str, Any]:
        return {**self.measured,
                "bytes_restored": self.counts.bytes, "files_restored": self.counts.files,
                "dirs_restored": self.counts.dirs, "symlinks_restored": self.counts.symlinks,
                "other_restored": self.counts.other,
                "restore_verify_s": phases.get("restore", 0.0) + phases.get("verify", 0.0),
                "rto_s": self.policy.objectives.rto.total_seconds(), "rta_s": rta,
                "checks": [c.as_dict() for c in self.checks], "sandbox_kept": kept is not None,
                "hash_workers": self.hash_workers, **self.databases.measured(phases)}
