"""The drill's clock: the recovery time (RTA) runs from the moment a drill is requested."""

from __future__ import annotations

import time

from drkit.evidence.records import now_utc


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
