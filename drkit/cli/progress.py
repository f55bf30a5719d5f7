"""Progress on a terminal (rich, on stderr); silent under cron, where only summaries and errors print."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn


def shows_progress(as_json: bool) -> bool:
    """A bar only for a person at a terminal: never with --json or -q, never when stderr is piped
    (cron, scripts, CI logs), so captured output holds summaries and errors only."""
    from drkit.cli.app import quiet

    return not as_json and not quiet() and sys.stderr.isatty()


class _Bar:
    """One transient bytes bar on stderr, shown only when `enabled` (a terminal, no --json)."""

    def __init__(self, policy: str, *, enabled: bool):
        self.enabled = enabled
        self.policy = policy
        self._progress: Progress | None = None
        self._task = None

    def _task_named(self, description: str, total: int | None) -> None:
        if self._progress is None:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                      TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._progress.start()
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(description, total=total)

    def _advance_to(self, done: int, total: int | None = None) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done, **({"total": total} if total else {}))

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()


class BackupProgress(_Bar):
    def __enter__(self) -> "BackupProgress":
        if self.enabled:
            self._task_named(f"backup {self.policy}", None)
        return self

    def update(self, status: dict) -> None:
        self._advance_to(status.get("bytes_done", 0), status.get("total_bytes") or None)


class RestoreProgressBar(_Bar):
    """Bytes written, then bytes verified (drkit/jobs/restore.py; a drill adds its checks phase,
    drkit/jobs/drill/run.py). The bar appears with the restore itself, after any --in-place
    question has been answered."""

    LABELS = {"restore": "restoring", "verify": "verifying", "checks": "checking"}

    def __enter__(self) -> "RestoreProgressBar":
        return self

    def start(self, phase: str, total: int) -> None:
        if self.enabled:
            self._task_named(f"{self.LABELS.get(phase, phase)} {self.policy}", total or None)

    def update(self, done: int) -> None:
        self._advance_to(done)
