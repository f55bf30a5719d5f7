"""Small file systems for fault tests: a tmpfs of a given size (ENOSPC) or read-only (EROFS),
and running a command without root's permission override (EACCES).

Mounting needs root with CAP_SYS_ADMIN (a CI container may refuse it): `tmpfs()` then skips the
test with the reason. Root ignores mode bits, so `without_dac_override()` runs a child through
`setpriv` with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped, as an unprivileged user is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

DROP_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search",
            "--inh-caps", "-dac_override,-dac_read_search"]


@contextmanager
def tmpfs(where: Path, size: str = "1m", *, read_only: bool = False) -> Iterator[Path]:
    """Mount a tmpfs of `size` on `where` (created), unmount it afterwards; skip when not allowed."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0755" + (",ro" if read_only else "")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'mount failed'}): needs root with CAP_SYS_ADMIN")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path, leave_bytes: int = 0) -> Path:
    """Fill the file system of `directory` up to `leave_bytes` free; returns the filler file."""
    filler = directory / "filler"
    free = shutil.disk_usage(directory).free - leave_bytes
    with open(filler, "wb") as handle:
        try:
            while free > 0:
                chunk = min(free, 1 << 16)
                handle.write(b"\0" * chunk)
                free -= chunk
            handle.flush()
        except OSError:
            pass  # full already
    return filler


def without_dac_override(argv: list[str]) -> list[str]:
    """`argv` run so that file modes bind even for root (an unprivileged user needs nothing)."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's CAP_DAC_OVERRIDE")
    return [*DROP_DAC, *argv]
