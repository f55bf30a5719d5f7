"""How a drill's end is judged: the verdict rule, and what a restic failure during a drill means.

restic exits 1 for a damaged repository as for a wrong password or a dead network; only a
failure whose output shows damage is a FAIL (exit 4). Everything else is an ERROR with its real
cause (exit 1): a drill that could not run proves nothing either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from drkit.core import errors
from drkit.core.display import count_of
from drkit.engines.manifest import Manifest
from drkit.jobs.drill.verification import MAX_LISTED, HashCheck, TreeCheck

Verdict = Literal["PASS", "BREACH", "FAIL", "ERROR"]

# restic output lines that show the repository could not give the data back
DAMAGE_MARKERS = ("verification failed", "ignoring error", "hash mismatch", "unexpected eof", "is damaged",
                  "pack file cannot be listed", "invalid data returned", "failed to load")
NOT_FOUND_MARKERS = ("no matching id", "criteria not found", "invalid id", "multiple ids")
# restic's per-file "ignoring error for PATH: ..." also covers writing the local copy: those say
# nothing about the repository (a restore into an existing tree meets them first)
LOCAL_WRITE_MARKERS = ("file exists", "permission denied", "read-only file system", "operation not permitted",
                       "is a directory", "not a directory", "too many open files")


class DrillFailed(errors.VerificationError):
    """Restored data is wrong or unverifiable: the verdict is FAIL."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


def select_verdict(*, failed: bool, errored: bool, rta_s: float, rto_s: float) -> Verdict:
    """Wrong data outranks everything; a drill that could not finish is never a PASS; only a fully
    verified drill is measured against the RTO (RTA equal to the RTO still meets it)."""
    if failed:
        return "FAIL"
    if errored:
        return "ERROR"
    return "BREACH" if rta_s > rto_s else "PASS"


def restore_failure(exc: BaseException, stderr: list[str], *, policy: str, sandbox: str,
                    not_found: Callable[[list[str]], errors.DrkitError], label: str = "sandbox",
                    elsewhere: str = "--sandbox", command: str = "restic restore --verify") -> errors.DrkitError:
    """What a failed `restic restore` means for a drill (or a restore: `label` "target");
    `command` is how the message names what failed."""
    text = "\n".join(stderr).lower()
    if "no space left on device" in text:
        return errors.UsageError(f"{label} {sandbox}: its filesystem ran out of space during the restore",
                                 hint=f"free space or pass {elsewhere} elsewhere")
    if any(marker in text for marker in NOT_FOUND_MARKERS):
        return not_found(stderr)
    local = [ln.strip() for ln in stderr if any(marker in ln.lower() for marker in LOCAL_WRITE_MARKERS)]
    if local:
        return errors.DrkitError(f"restore could not write into {label} {sandbox}: {local[0]}"
                                 + (f" (and {len(local) - 1} more)" if len(local) > 1 else ""))
    if not isinstance(exc, errors.DrkitError):
        return errors.DrkitError(f"restore: {type(exc).__name__}: {exc}")
    return damage_or(exc, stderr, what=command, policy=policy)


def damage_or(exc: errors.DrkitError, stderr: list[str], *, what: str, policy: str) -> errors.DrkitError:
    """A FAIL when restic's failure shows damage; otherwise the error as it is (an ERROR with its
    cause: password, credentials, network, lock, timeout, missing repository)."""
    if isinstance(exc, errors.RepositoryDamaged):
        damage = [exc.message]
    elif type(exc) is errors.ResticError:
        damage = [ln.strip() for ln in stderr if any(marker in ln.lower() for marker in DAMAGE_MARKERS)]
        if not damage:
            return exc
    else:
        return exc
    return DrillFailed(f"{what} failed: {damage[0]}; the repository may be damaged "
                       f"(run: drkit repo check {policy} --read-data-subset 100%)",
                       [f"{what} failed: {ln}" for ln in damage][:MAX_LISTED])


def check_restored(manifest: Manifest | None, tree: TreeCheck, hashes: HashCheck,
                   selected: Callable[[str], bool] = lambda _path: True) -> None:
    """DrillFailed naming the first mismatch (and counting the rest) when the restored tree or its
    hashes differ from the snapshot, or when a `selected` file could not be read at backup time."""
    unreadable = [f"{path}: could not be read at backup time ({why}); not in the snapshot"
                  for path, why in sorted(manifest.unreadable.items()) if selected(path)] if manifest else []
    problems = unreadable + tree.problems + hashes.problems
    count = len(unreadable) + tree.problem_count + hashes.problem_count
    if count:
        verb = "does" if count == 1 else "do"
        raise DrillFailed(f"{count_of(count, 'restored item')} {verb} not match the snapshot: {problems[0]}"
                          + (f" (and {count - 1} more)" if count > 1 else ""), problems[:MAX_LISTED])
