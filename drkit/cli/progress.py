"""Backup progress on a terminal (rich); silent under cron, where only summaries and errors print."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn


class BackupProgress:
    def __init__(self, policy: str, *, enabled: bool):
        self.enabled = enabled
        self.policy = policy
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> "BackupProgress":
        if self.enabled:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                      TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._progress.start()
            self._task = self._progress.add_task(f"backup {self.policy}", total=None)
        return self

    def update(self, status: dict) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=status.get("bytes_done", 0),
                                  total=status.get("total_bytes") or None)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()


class RestoreProgressBar:
    """Restore progress on a terminal: bytes written, then bytes verified (drkit/jobs/restore.py).
    The bar appears with the restore itself, after any --in-place question has been answered."""

    LABELS = {"restore": "restoring", "verify": "verifying"}

    def __init__(self, policy: str, *, enabled: bool):
        self.enabled = enabled
        self.policy = policy
        self._progress: Progress | None = None
        self._task = None

    def __enter__(self) -> "RestoreProgressBar":
        return self

    def start(self, phase: str, total: int) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                      TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._progress.start()
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(f"{self.LABELS.get(phase, phase)} {self.policy}", total=total or None)

    def update(self, done: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
