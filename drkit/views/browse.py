"""Browsing a snapshot without restoring it: `drkit ls` (what is in it, with sizes and times) and
`drkit dump` (one file to stdout). Read-only: restic runs with --no-lock, nothing is recorded.

The snapshot is chosen as a restore chooses it (drkit/jobs/drill/selection.py: latest, an id,
before:TIME), so `drkit ls shop before:6h` shows exactly what `drkit restore shop --snapshot
before:6h` would bring back.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from drkit.core import errors
from drkit.core.display import count_of, format_size, format_when
from drkit.core.jsonshape import JsonDocument
from drkit.core.policy import Policy
from drkit.engines.restic import Listing, Node, Snapshot, parse_restic_time
from drkit.engines.workspace import Workspace
from drkit.evidence.records import now_utc, utc_text
from drkit.jobs.drill.selection import SnapshotChooser


@dataclass(frozen=True)
class SnapshotFiles(JsonDocument, schema="drkit.snapshot-files/1"):
    """What one snapshot holds at and below `path` (every path when None)."""

    policy: str
    snapshot: Snapshot
    path: str | None
    nodes: list[Node]

    @property
    def files(self) -> int:
        return sum(1 for node in self.nodes if node.type == "file")

    @property
    def bytes(self) -> int:
        return sum(node.size for node in self.nodes if node.type == "file")

    def json_fields(self) -> dict[str, Any]:
        s = self.snapshot
        return {"policy": self.policy,
                "snapshot": {"id": s.id, "short_id": s.short_id, "time": utc_text(s.time), "hostname": s.hostname,
                             "paths": s.paths},
                "path": self.path, "files": self.files, "bytes": self.bytes,
                "entries": [{"path": n.path, "type": n.type, "size": n.size if n.type == "file" else None,
                             "mtime": _mtime_text(n.mtime)} for n in self.nodes]}

    def lines(self) -> Iterator[str]:
        """A tree: one line per entry, `size  modified  name`; each root (the listed path, else the
        snapshot's backed-up paths) in full, what lies below it indented by depth. Full widths:
        nothing is cut when piped. The roots' parent directories are left out."""
        s = self.snapshot
        yield (f"{self.policy} snapshot {s.short_id} ({format_when(s.time)} UTC, {s.hostname}): "
               f"{count_of(self.files, 'file')}, {format_size(self.bytes)}" + (f" in {self.path}" if self.path else ""))
        roots = sorted([self.path] if self.path else s.paths, key=len, reverse=True)
        for node in self.nodes:
            root = next((r for r in roots if node.path == r or node.path.startswith(r.rstrip("/") + "/")), None)
            if root is None:
                continue
            depth = node.path.count("/") - root.rstrip("/").count("/")
            name = (node.path if node.path == root else posixpath.basename(node.path)) + ("/" if node.type == "dir" else "")
            size = format_size(node.size) if node.type == "file" else ""
            when = format_when(_mtime(node.mtime)) if node.mtime else ""
            yield f"{size:>9}  {when:19}  {'  ' * depth}{name}"


def _mtime(text: str):
    try:
        return parse_restic_time(text)
    except ValueError:
        return None


def _mtime_text(text: str) -> str | None:
    moment = _mtime(text) if text else None
    return utc_text(moment) if moment is not None else None


def _chosen(ws: Workspace, policy: Policy, spec: str, repository: str | None) -> tuple[SnapshotChooser, Listing]:
    restic = ws.restic(policy, repository)
    chooser = SnapshotChooser(policy, spec, ws.catalog, restic, now_utc(), allow_random=False, what="browse",
                              label="SNAPSHOT", copy=policy.copy_named(repository))
    listing = restic.list_snapshot(chooser.choose().selector)
    if listing.snapshot is None:
        raise chooser.not_found(listing.notes)
    return chooser, listing


def list_files(ws: Workspace, policy: Policy, spec: str = "latest", path: str | None = None,
               repository: str | None = None) -> SnapshotFiles:
    """The snapshot's entries at and below `path` (an absolute path as backed up), from the policy's
    `repository` (None: the first; a copy's snapshots have ids of their own)."""
    _chooser, listing = _chosen(ws, policy, spec, repository)
    snapshot: Snapshot = listing.snapshot  # type: ignore[assignment]
    if path is None:
        return SnapshotFiles(policy.name, snapshot, None, listing.nodes)
    if not path.startswith("/"):
        raise errors.UsageError(f"{path}: give the absolute path the data had when it was backed up",
                                hint=f"see them with: drkit ls {policy.name} {snapshot.short_id}")
    path = posixpath.normpath(path)
    nodes = [n for n in listing.nodes if path == "/" or n.path == path or n.path.startswith(path + "/")]
    if not nodes:
        raise errors.UsageError(f"{path}: no such path in snapshot {snapshot.short_id} of {policy.name}",
                                hint=f"see what it holds: drkit ls {policy.name} {snapshot.short_id}")
    return SnapshotFiles(policy.name, snapshot, path, nodes)


def dump_file(ws: Workspace, policy: Policy, spec: str, path: str, repository: str | None = None) -> Iterator[bytes]:
    """One file of the snapshot, streamed; a path that is not a file there is refused before any byte."""
    files = list_files(ws, policy, spec, path, repository)
    node = files.nodes[0]
    if node.path != posixpath.normpath(path) or node.type != "file":
        raise errors.UsageError(f"{path} is a {node.type} in snapshot {files.snapshot.short_id}, not a file",
                                hint=f"list it: drkit ls {policy.name} {files.snapshot.short_id} {path}")
    return ws.restic(policy, repository).dump(files.snapshot.id, node.path)
