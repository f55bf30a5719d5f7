"""Which restic runs, and whether it is new enough: 0.14 (Debian bookworm) is the floor."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from drkit.core import errors
from drkit.core.atomic import write_text_atomically

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


def cached_version(binary: str, cache: Path) -> tuple[int, int, int]:
    """`installed_version`, remembered in `cache` for the binary's path, size and mtime: a job asks
    each run, and `restic version` is a process start drkit can skip while the binary is unchanged
    (a package upgrade changes the mtime, so the new version is read and checked again)."""
    path = find_binary(binary)
    try:
        stat = os.stat(path)
    except OSError:
        return installed_version(binary)[0]
    stamp = {"path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    try:
        saved = json.loads(cache.read_text())
        if saved.get("binary") == stamp:
            return check_version(f"restic {saved['version']}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # no cache yet or unreadable: ask restic
    version = installed_version(binary)[0]
    try:
        write_text_atomically(cache, json.dumps({"binary": stamp, "version": ".".join(map(str, version))}), mode=0o600)
    except OSError:
        pass  # a cache only: the next run asks restic again
    return version
