"""restic's failures as typed errors: restic exits 1 for nearly everything, so the exit code and
stderr together say what went wrong (recorded real stderr in tests/data/restic/)."""

from __future__ import annotations

import re

from drkit.core import errors

# What restic 0.14 `check` prints when it found damage (rather than failing to run at all).
DAMAGE_MARKERS = ("repository contains errors", "pack id does not match", "ciphertext verification failed",
                  "loadindex returned errors", "pack file cannot be listed", "is damaged")


# S3's refusals of the request's credentials, as codes and as the messages restic prints for them.
CREDENTIAL_REFUSALS = ("access denied", "invalidaccesskeyid", "signaturedoesnotmatch",
                       "signature we calculated does not match", "access key id you provided does not exist")


def classify(returncode: int, stderr: str, what: str, policy: str = "NAME",
             repository: str | None = None) -> errors.DrkitError:
    """Map a failed restic run to a typed error (restic exits 1 for nearly everything); `policy`
    names the policy in the commands the hints give, `repository` the one repository the command
    opened (None when it opened two, like `copy`: restic's words do not say which one failed)."""
    text = stderr.lower()
    tail = last_meaningful_line(stderr)
    if "resolving password failed" in text or "empty password is not a password" in text:
        cause = "it is empty" if "empty password" in text else password_cause(stderr)
        return errors.PasswordUnavailable(f"{what}: the repository password could not be read: {cause}",
                                          hint="check the policy's password_file / password_command / password_env; "
                                               f"a lost password file comes back with: drkit keys recover {policy} "
                                               "--identity FILE")
    if "wrong password" in text or "no key found" in text:
        return errors.WrongPassword(f"{what}: wrong repository password (restic: wrong password or no key found)",
                                    hint="check the policy's password source" +
                                         (f" of repository {repository}" if repository else ""))
    if any(s in text for s in ("connection refused", "no such host", "i/o timeout", "network is unreachable",
                               "no route to host", "connection reset", "tls handshake timeout",
                               "context deadline exceeded")):
        return errors.Unreachable(f"{what}: repository unreachable ({tail})",
                                  hint="check the S3 endpoint, network and credentials")
    if "repository is already locked" in text:
        return errors.RepositoryLocked(f"{what}: repository is locked by another restic process ({tail})")
    # before "no repository": restic wraps a refused request in "unable to open config file … Is there
    # a repository", and `repo init` would then be the wrong advice (tests/data/restic/wrong-secret-key.stderr)
    if any(s in text for s in CREDENTIAL_REFUSALS):
        return errors.ResticError(f"{what}: S3 refused the credentials ({tail})",
                                  hint="check AWS credentials / aws_profile")
    if "unable to open config file" in text or "is there a repository" in text:
        return errors.NoRepository(f"{what}: no restic repository at the configured URL",
                                   hint=f"run: drkit repo init {policy}")
    if returncode == 3:
        return errors.PartialBackup(f"{what}: some source files could not be read ({tail})")
    return errors.ResticError(f"{what}: restic exited {returncode}: {tail or 'no error message'}")


def password_cause(stderr: str) -> str:
    """`Resolving password failed: Fatal: /x does not exist` -> `/x does not exist`."""
    for line in stderr.splitlines():
        if "resolving password failed" in line.lower():
            cause = line.split(":", 1)[1].strip().removeprefix("Fatal:").strip()
            if cause.startswith("exit status"):
                return f"the password command failed ({cause})"
            return cause[:200] or "no reason given"
    return "no reason given"


# A restic panic prints a Go stack trace; none of it is a message for a person.
_TRACE = re.compile(r"^(goroutine \d+|runtime[/.]|created by |main\.|github\.com/|\S*\.(?:go|s):\d+|\S+\(0x[0-9a-f]|\[signal )")


def is_trace_line(line: str) -> bool:
    return bool(_TRACE.match(line.strip()))


def last_meaningful_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not is_trace_line(ln)]
    for line in reversed(lines):
        if line.startswith("Fatal:") or "error" in line.lower():
            return line.removeprefix("Fatal: ")[:300]
    return (lines[-1] if lines else "")[:300]


def is_damage(error: errors.DrkitError, stderr: str) -> bool:
    """Whether a failed `restic check` (classified as `error`) found damage, rather than failing to
    run at all (a RepositoryLocked, say, must go back to the stale-lock retry)."""
    return type(error) is errors.ResticError and any(m in stderr.lower() for m in DAMAGE_MARKERS)


def damage_lines(stderr: str) -> list[str]:
    """The lines of `restic check` stderr that describe damage (indented detail joined to its head)."""
    problems: list[str] = []
    for line in stderr.splitlines():
        if not line.strip() or line.startswith("Fatal: repository contains errors"):
            continue
        if line[:1].isspace() and problems:
            problems[-1] += " " + line.strip()
        else:
            problems.append(line.strip())
    return problems[:100] or ["restic check: repository contains errors"]
