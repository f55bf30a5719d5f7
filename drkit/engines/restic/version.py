"""Which restic runs, and whether it is new enough: 0.14 (Debian bookworm) is the floor."""

from __future__ import annotations

import re
import shutil
import subprocess

from drkit.core import errors

MIN_VERSION = (0, 14, 0)
INSTALL_HINT = "install restic 0.14 or newer: apt-get install -y restic"


def find_binary(name: str) -> str:
    """The restic executable's path; a one-line install hint when it is missing."""
    binary = shutil.which(name)
    if not binary:
        raise errors.ResticNotFound("restic not found on PATH", hint=INSTALL_HINT)
    return binary


def check_version(output: str) -> tuple[int, int, int]:
    """Parse `restic version` output and refuse versions older than MIN_VERSION."""
    match = re.search(r"restic (\d+)\.(\d+)\.(\d+)", output)
    if not match:
        raise errors.ResticNotFound(f"cannot tell the restic version from {output.strip()[:80]!r}", hint=INSTALL_HINT)
    version = tuple(int(x) for x in match.groups())
    if version < MIN_VERSION:
        raise errors.ResticTooOld(f"restic {'.'.join(map(str, version))} is too old; drkit needs 0.14 or newer",
                                  hint=INSTALL_HINT)
    return version  # type: ignore[return-value]


def installed_version(binary: str = "restic") -> tuple[tuple[int, int, int], str]:
    """(version, path) of the restic on PATH; ResticNotFound / ResticTooOld otherwise."""
    path = find_binary(binary)
    try:
        output = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise errors.ResticNotFound(f"{path} version did not run ({exc})", hint=INSTALL_HINT) from None
    return check_version(output), path
