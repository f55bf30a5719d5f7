"""Restore drill (design section 7): restore a snapshot into a sandbox, prove it is complete and
correct, run the policy's checks, and measure the recovery time (RTA) against the RTO.

Flow: preflight (vet the sandbox, pick the snapshot, check free space) -> restore with
`restic restore --verify` while `restic ls` lists the snapshot and, once restic starts its own
read-back, restored files are hashed on a thread pool -> verify the tree and the hashes against
the manifest stored in the snapshot -> checks -> one signed evidence record. Every run ends in
exactly one verdict: PASS (exit 0), BREACH (RTA > RTO, exit 3), FAIL (data or check wrong, exit 4)
or ERROR (could not run, exit 1; a refused sandbox or snapshot is a usage error, exit 2).
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import random
import re
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from drkit.checks import CheckContext, CheckResult, run_checks
from drkit.core import errors
from drkit.core.policy import Policy
from drkit.engines.manifest import Manifest
from drkit.engines.restic import Listing, Restic, Snapshot, terminate_running
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record, now_utc, signature_problem
from drkit.jobs.backup import policy_tag
from drkit.jobs.drill.sandbox import FirstByteWatch, Sandbox, protected_paths
from drkit.jobs.drill.verification import (
    MAX_LISTED,
    HashCheck,
    HashPlan,
    TreeCheck,
    check_tree,
    collect_hashes,
    count_nodes,
    find_manifest,
    in_sandbox,
    plan_hashes,
    submit_hashes,
)

log = logging.getLogger("drkit")

Verdict = Literal["PASS", "BREACH", "FAIL", "ERROR"]
RESULT: dict[str, str] = {"PASS": "pass", "BREACH": "breach", "FAIL": "fail", "ERROR": "error"}
EXIT: dict[str, int] = {"PASS": 0, "BREACH": 3, "FAIL": 4, "ERROR": 1}
HASH_WORKERS = min(4, os.cpu_count() or 2)
SNAPSHOT_ID_RE = re.compile(r"^[0-9a-f]{4,64}$")
PHASES = ("preflight", "restore", "verify", "checks")


class DrillFailed(errors.VerificationError):
    """Restored data is wrong or unverifiable: the verdict is FAIL."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


def select_verdict(*, failed: bool, errored: bool, rta_s: float, rto_s: float) -> Verdict:
    """Wrong data outranks everything; a drill that could not finish is never a PASS; only a fully
    verified drill is measured against the RTO."""
    if failed:
        return "FAIL"
    if errored:
        return "ERROR"
    return "BREACH" if rta_s > rto_s else "PASS"


class Stopwatch:
    """The drill's clock, started when the drill is requested (the RTA starts there too).

    Phases are disjoint spans; whatever lies outside them (policy loading, lock) is `other`, so
    the phases always add up to the total.
    """

    def __init__(self) -> None:
        self.started_at = now_utc()
        self._t0 = time.monotonic_ns()
        self._spans: dict[str, int] = {}
        self._open: tuple[str, int] | None = None

    @property
    def current(self) -> str | None:
        return self._open[0] if self._open else None

    def begin(self, phase: str) -> None:
        self.end()
        self._open = (phase, time.monotonic_ns())

    def end(self) -> None:
        if self._open:
            name, start = self._open
            self._spans[name] = self._spans.get(name, 0) + time.monotonic_ns() - start
            self._open = None

    def finish(self) -> tuple[dict[str, float], float]:
        """Close the clock: (phases incl. `other`, total seconds)."""
        self.end()
        total = time.monotonic_ns() - self._t0
        phases = {name: ns / 1e9 for name, ns in self._spans.items()}
        phases["other"] = (total - sum(self._spans.values())) / 1e9
        return phases, total / 1e9


@dataclass(frozen=True)
class DrillRequest:
    policy: Policy
    policy_file: Path | None = None
    snapshot: str = "latest"  # latest | random | snapshot id (short or full)
    sandbox: Path | None = None
    keep: bool = False


@dataclass
class DrillOutcome:
    policy: str
    verdict: Verdict
    record: Record  # signed, unless recording itself failed
    error: errors.DrkitError | None = None
    problems: list[str] = field(default_factory=list)
    kept_sandbox: Path | None = None

    @property
    def exit_code(self) -> int:
        if self.verdict == "ERROR" and self.error is not None:
            return int(self.error.exit_code)
        return EXIT[self.verdict]


@dataclass(frozen=True)
class _Choice:
    """Which snapshot to restore. `selector` is what restic gets: a full id, or "latest" with `tags`."""

    selector: str
    tags: tuple[str, ...] = ()
    expected_id: str | None = None  # the catalog's idea of it, for the size estimate
    listing: Listing | None = None  # already listed (serial path)


def run_drill(ws: Workspace, request: DrillRequest, clock: Stopwatch | None = None) -> DrillOutcome:
    """One drill under the policy lock. Raises LockedError (exit 5) when the policy is busy;
    every other outcome, failures included, comes back as a DrillOutcome with signed evidence."""
    clock = clock or Stopwatch()
    lock = ws.lock(request.policy.name, "drill").acquire()
    try:
        return _Drill(ws, request, clock).run()
    finally:
        lock.release()


class _Drill:
    def __init__(self, ws: Workspace, request: DrillRequest, clock: Stopwatch):
        self.ws = ws
        self.request = request
        self.policy = request.policy
        self.clock = clock
        self.restic: Restic | None = None
        self.restic_version = ""
        self.sandbox: Sandbox | None = None
        self.snapshot: Snapshot | None = None
        self.listing: Listing | None = None
        self.counts = TreeCheck()
        self.backup: Record | None = None
        self.manifest_path: str | None = None
        self.checks: list[CheckResult] = []
        self.problems: list[str] = []
        self.measured: dict[str, Any] = {"snapshot_selector": request.snapshot, "verify": self.policy.drill.verify}

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> DrillOutcome:
        try:
            failed, error = self._execute()
            phases, rta = self.clock.finish()
            verdict, error = self._judge(failed, error, rta)
            kept = self._keep(verdict)
        except BaseException:
            if self.sandbox is not None:  # interrupted: never leave a half-restored tree behind
                self.sandbox.discard()
            raise
        record = self._record(verdict, phases, rta, error, kept)
        # The clock has stopped: remove the tree while the evidence is signed and uploaded.
        remover = threading.Thread(target=self._remove_sandbox, name="drill-cleanup") if kept is None else None
        if remover is not None:
            remover.start()
        try:
            return self._store(verdict, record, error, kept)
        finally:
            if remover is not None:
                remover.join()

    def _execute(self) -> tuple[bool, errors.DrkitError | None]:
        """Run the phases; (verification failed?, what stopped the drill)."""
        try:
            choice = self._preflight()
            self._restore_and_verify(choice)
            self._run_checks()
            return False, None
        except DrillFailed as exc:
            self.problems = exc.problems or [exc.message]
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

    def _preflight(self) -> _Choice:
        self.clock.begin("preflight")
        policy = self.policy
        self.sandbox = Sandbox.choose(self.request.sandbox, parent=policy.drill.sandbox, policy=policy.name,
                                      protected=protected_paths(policy, self.ws.state_dir), now=self.clock.started_at)
        self.measured["sandbox"] = str(self.sandbox.path)
        self.restic = self.ws.restic(policy)
        self.restic_version = ".".join(map(str, self.restic.version()))
        choice = self._choose()
        size = self._known_size(choice.expected_id)
        if size is None:
            # Nothing recorded about this snapshot (plain restic, or another host's): list it
            # first, so free space is checked before anything is written.
            listing = self._list(choice)
            self._adopt(listing, choice)
            choice = _Choice(listing.snapshot.id, (), listing.snapshot.id, listing)  # type: ignore[union-attr]
            size = self.counts.bytes
        self.measured["size_estimate"] = size
        self.sandbox.check_space(size)
        self.sandbox.open()
        return choice

    def _choose(self) -> _Choice:
        spec = self.request.snapshot.strip().lower()
        tag = policy_tag(self.policy.name)
        if spec == "latest":
            tagged = [row for row in self.ws.catalog.snapshots(self.policy.name) if tag in row.tags]
            return _Choice("latest", (tag,), tagged[-1].id if tagged else None)
        if spec == "random":
            assert self.restic is not None
            candidates = self.restic.snapshots(tags=[tag])
            if not candidates:
                raise self._none_yet()
            pick = random.SystemRandom().choice(candidates)
            self.measured["random_among"] = len(candidates)
            return _Choice(pick.id, (), pick.id)
        if not SNAPSHOT_ID_RE.match(spec):
            raise errors.UsageError(f"--snapshot: expected latest, random or a snapshot id (4 to 64 hex digits), "
                                    f"got '{self.request.snapshot}'")
        matches = [row.id for row in self.ws.catalog.snapshots(self.policy.name) if row.id.startswith(spec)]
        if len(set(matches)) == 1:
            return _Choice(matches[0], (), matches[0])
        return _Choice(spec, ())  # unknown to the catalog: restic resolves (and vets) the prefix

    def _known_size(self, snapshot_id: str | None) -> int | None:
        if not snapshot_id:
            return None
        record = self.ws.catalog.backup_record(self.policy.name, snapshot_id)
        return record.bytes if record is not None and record.bytes > 0 else None

    def _none_yet(self) -> errors.DrkitError:
        return errors.DrkitError(f"{self.policy.name}: no drkit snapshot to drill yet",
                                 hint=f"run: drkit backup {self.policy.name}")

    def _not_found(self, notes: list[str]) -> errors.DrkitError:
        if self.request.snapshot.strip().lower() in ("latest", "random"):
            return self._none_yet()
        text = " ".join(notes).lower()
        if "multiple" in text or "ambiguous" in text:
            return errors.UsageError(f"snapshot id '{self.request.snapshot}' is ambiguous", hint="give more digits")
        return errors.UsageError(f"no snapshot '{self.request.snapshot}' in the repository of {self.policy.name}",
                                 hint=f"list them: drkit snapshots {self.policy.name}")

    def _list(self, choice: _Choice) -> Listing:
        assert self.restic is not None
        try:
            return self.restic.list_snapshot(choice.selector, tags=choice.tags)
        except errors.DrkitError as exc:
            raise self._damage_or(exc, [], what="restic ls") from None

    def _adopt(self, listing: Listing, choice: _Choice) -> None:
        """Take the listed snapshot as the drill's: counts, its backup evidence, its manifest."""
        if listing.snapshot is None:
            raise self._not_found(listing.notes)
        self.listing, self.snapshot = listing, listing.snapshot
        self.counts = count_nodes(listing.nodes)
        if choice.expected_id and choice.expected_id != listing.snapshot.id:
            self.measured["catalog_was_stale"] = True  # the local snapshot list missed a newer one
        self.backup = self.ws.catalog.backup_record(self.policy.name, listing.snapshot.id)
        if self.backup is not None:
            self.measured["backup_record"] = self.backup.digest()
            self._authenticate_backup(self.backup)
        known = self.backup.measured.get("manifest") if self.backup else None
        self.manifest_path = find_manifest(listing.nodes, self.policy.name, known)
        if self.manifest_path is None:
            raise DrillFailed(f"cannot verify: snapshot {listing.snapshot.short_id} has no drkit manifest "
                              "(made by plain restic?); restic restore alone proves no content")

    def _authenticate_backup(self, record: Record) -> None:
        """A backup record signed by this host's key must still verify (the catalog is a file)."""
        key = self.ws.key
        if record.key_id == key.key_id:
            problem = signature_problem(record, {key.key_id: key.private.public_key()})
            if problem:
                raise DrillFailed(f"backup evidence of snapshot {record.snapshot_id[:8]} does not verify: {problem}")

    # --- restore + verify -------------------------------------------------------------------------

    def _restore_and_verify(self, choice: _Choice) -> None:
        """restore --verify and ls side by side; hash restored files while restic reads them back."""
        assert self.restic is not None and self.sandbox is not None
        self.clock.begin("restore")
        restic, target = self.restic, self.sandbox.path
        readback = threading.Event()  # restic has written every file and reads them back now
        restored_ids: list[str] = []
        stderr: deque[str] = deque(maxlen=200)

        def on_line(line: str) -> None:
            if line.startswith("restoring <Snapshot "):
                restored_ids.append(line.split()[2])
            elif line.startswith("verifying files in"):
                readback.set()

        runners = ThreadPoolExecutor(2, thread_name_prefix="drill-restic")
        hashers = ThreadPoolExecutor(HASH_WORKERS, thread_name_prefix="drill-hash")
        first_byte = FirstByteWatch(target)  # fixed cost of the restore, for the projected full RTO
        try:
            listed = runners.submit(restic.list_snapshot, choice.selector, tags=choice.tags) if choice.listing is None else None
            restoring = runners.submit(restic.restore_verified, choice.selector, target, tags=choice.tags,
                                       on_line=on_line, on_stderr=stderr.append)
            restoring.add_done_callback(lambda _f: readback.set())
            readback.wait()
            if restoring.done() and restoring.exception() is not None:
                self._adopt_quietly(listed, choice)
                raise self._restore_failure(restoring.exception(), stderr)  # type: ignore[arg-type]
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

    def _start_hashing(self, listed: Future | None, choice: _Choice, hashers: ThreadPoolExecutor) -> list:
        """Every file is written: take the listing and the restored manifest, start hashing."""
        if listed is not None:
            try:
                listing = listed.result()
            except errors.DrkitError as exc:
                raise self._damage_or(exc, [], what="restic ls") from None
            self._adopt(listing, choice)
        plan = self._plan(self._load_manifest())
        return submit_hashes(hashers, self.sandbox.path, plan)  # type: ignore[union-attr]

    def _compare(self, tree: TreeCheck, hashes: HashCheck) -> None:
        self.measured.update(files_hashed=hashes.files_hashed, bytes_hashed=hashes.bytes_hashed)
        problems = tree.problems + hashes.problems
        count = tree.problem_count + hashes.problem_count
        if count:
            raise DrillFailed(f"{count} restored item(s) do not match the snapshot: {problems[0]}"
                              + (f" (and {count - 1} more)" if count > 1 else ""), problems[:MAX_LISTED])

    def _adopt_quietly(self, listed: Future | None, choice: _Choice) -> None:
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
        digest = hashlib.sha256(data).hexdigest()
        expected = self.backup.measured.get("manifest_sha256") if self.backup else None
        self.measured.update(manifest=self.manifest_path, manifest_sha256=digest,
                             manifest_authenticated=expected is not None)
        if expected is not None and expected != digest:
            raise DrillFailed(f"the manifest in the snapshot does not match the signed backup evidence "
                              f"(sha256 {digest[:12]}…, evidence {str(expected)[:12]}…)")
        try:
            return Manifest.from_json(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise DrillFailed(f"manifest {self.manifest_path} is unreadable ({exc})") from None

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

    def _restore_failure(self, exc: BaseException, stderr: deque[str]) -> errors.DrkitError:
        lines = list(stderr)
        text = "\n".join(lines).lower()
        if "no space left on device" in text:
            return errors.UsageError(f"sandbox {self.sandbox.path if self.sandbox else ''}: its filesystem ran out of "
                                     "space during the restore", hint="free space or pass --sandbox elsewhere")
        if any(s in text for s in ("no matching id", "criteria not found", "invalid id", "multiple ids")):
            return self._not_found(lines)
        if not isinstance(exc, errors.DrkitError):
            return errors.DrkitError(f"restore: {type(exc).__name__}: {exc}")
        return self._damage_or(exc, lines, what="restic restore --verify")

    def _damage_or(self, exc: errors.DrkitError, stderr: list[str], *, what: str) -> errors.DrkitError:
        """restic exits 1 for damage as for everything: a failure it could not blame on the
        network, password, lock or a timeout means the repository could not give the data back."""
        if type(exc) not in (errors.ResticError, errors.RepositoryDamaged):
            return exc
        damage = [ln.strip() for ln in stderr if "verification failed" in ln or "ignoring error" in ln
                  or "fatal:" in ln.lower()]
        detail = damage[0] if damage else exc.message
        return DrillFailed(f"{what} failed: {detail}; the repository may be damaged "
                           f"(run: drkit repo check {self.policy.name} --read-data-subset 100%)",
                           [f"{what} failed: {ln}" for ln in (damage or [exc.message])][:MAX_LISTED])

    # --- checks ----------------------------------------------------------------------------------

    def _run_checks(self) -> None:
        assert self.sandbox is not None
        self.clock.begin("checks")
        staging = posixpath.dirname(self.manifest_path) if self.manifest_path else None
        base = self.request.policy_file.parent if self.request.policy_file else Path.cwd()
        ctx = CheckContext(self.sandbox.path, staging, self.policy, base.resolve())
        self.checks = run_checks(list(self.policy.drill.checks), ctx)
        self.clock.end()

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

    def _record(self, verdict: Verdict, phases: dict[str, float], rta: float, error: errors.DrkitError | None,
                kept: Path | None) -> Record:
        rto = self.policy.objectives.rto.total_seconds()
        measured = dict(self.measured)
        measured.update(
            bytes_restored=self.counts.bytes, files_restored=self.counts.files, dirs_restored=self.counts.dirs,
            symlinks_restored=self.counts.symlinks, other_restored=self.counts.other,
            restore_verify_s=phases.get("restore", 0.0) + phases.get("verify", 0.0),
            rto_s=rto, rta_s=rta, checks=[c.as_dict() for c in self.checks], sandbox_kept=kept is not None,
            hash_workers=HASH_WORKERS)
        messages = ([str(error)] if error is not None else []) + [p for p in self.problems if p != str(error)]
        result = "interrupted" if isinstance(error, errors.Interrupted) else RESULT[verdict]
        return Record(kind="drill", policy=self.policy.name, started_at=self.clock.started_at,
                      finished_at=self.clock.started_at + timedelta(seconds=rta), result=result,  # type: ignore[arg-type]
                      restic_version=self.restic_version,
                      snapshot_id=self.snapshot.id if self.snapshot else None,
                      snapshot_time=self.snapshot.time if self.snapshot else None,
                      bytes=self.counts.bytes, files=self.counts.files, phases=phases, measured=measured,
                      errors=messages[:MAX_LISTED + 1])

    def _store(self, verdict: Verdict, record: Record, error: errors.DrkitError | None,
               kept: Path | None) -> DrillOutcome:
        """Sign, chain and upload. Evidence that cannot be stored turns a drill into an ERROR:
        a drill nobody can prove happened did not pass."""
        try:
            signed = self.ws.record(self.policy, record)
        except Exception as exc:  # noqa: BLE001 - report the drill's own result with the reason
            failure = errors.DrkitError(f"drill evidence could not be recorded: {exc}")
            log.warning("%s", failure)
            if verdict in ("PASS", "BREACH"):
                return DrillOutcome(self.policy.name, "ERROR", record, failure, self.problems, kept)
            return DrillOutcome(self.policy.name, verdict, record, error or failure, self.problems, kept)
        return DrillOutcome(self.policy.name, verdict, signed, error, self.problems, kept)

