"""Writing local files: atomic replacement (readers such as node_exporter, web servers and
auditors' scripts see the old file or the new one, never half of one) and directories whose mode
does not depend on the umask."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def make_dirs(path: Path, mode: int) -> Path:
    """`mkdir -p` giving every directory it creates `mode`: `Path.mkdir(parents=True)` makes the
    parents 0777 minus the umask, whatever its `mode` argument says."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=mode, exist_ok=True)
        os.chmod(directory, mode)  # mkdir's mode is masked by the umask
    return path


def readable_dirs(path: Path) -> Path:
    """New directories 0755: drkit runs under umask 077 (its state is private), but reports,
    textfiles and units are written for others to read."""
    return make_dirs(path, 0o755)


def write_text_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    path = path.resolve()
    readable_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
