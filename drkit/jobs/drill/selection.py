"""Which snapshot a drill or a restore takes: `latest`, `random` (drills), `before:TIME` or an id
(short or full).

`latest`, `random` and `before:TIME` choose among the policy's tagged snapshots as the repository
lists them now (manual restic snapshots of other policies never count). `before:TIME` is the newest
one taken strictly before TIME: an ISO date or datetime (UTC unless it names a zone) or a duration
ago (`before:2h`), for the restore that must skip the damage of the last hours (docs/recovery.md). A snapshot dated after "now" (a host
with a wrong clock) is skipped with a warning, as reports ignore it (docs/drill.md): restic's own
`latest` would pick it and every drill would restore the wrong thing.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from drkit.core import errors
from drkit.core.display import count_of, format_when
from drkit.core.durations import parse_duration
from drkit.core.policy import Policy
from drkit.engines.catalog import Catalog
from drkit.engines.restic import Listing, Restic, Snapshot
from drkit.jobs.backup import policy_tag
from drkit.jobs.listing import refresh_by_difference

SNAPSHOT_ID_RE = re.compile(r"^[0-9a-f]{4,64}$")
CLOCK_SKEW = timedelta(minutes=5)  # a snapshot this far ahead of our clock is still "now"


@dataclass(frozen=True)
class Choice:
    """Which snapshot to restore. `selector` is what restic gets: a full id, or a prefix to resolve."""

    selector: str
    tags: tuple[str, ...] = ()
    expected_id: str | None = None  # the catalog's idea of it, for the size estimate
    listing: Listing | None = None  # already listed (serial path)


@dataclass
class SnapshotChooser:
    policy: Policy
    spec: str  # as the user gave it
    catalog: Catalog
    restic: Restic
    now: datetime
    measured: dict[str, Any] = field(default_factory=dict)  # what the choice adds to the evidence
    warnings: list[str] = field(default_factory=list)
    allow_random: bool = True  # a drill may take any snapshot; a restore names the one it wants
    what: str = "drill"  # the job, in "no drkit snapshot to drill yet"
    label: str = "--snapshot"  # how the user gave `spec`: the option, or `ls`/`dump`'s SNAPSHOT argument
    # the repository's snapshot ids without restic (drkit/jobs/listing.py); given, the policy's
    # snapshots come from the catalog refreshed by difference instead of a full `restic snapshots`
    list_ids: Callable[[], set[str]] | None = None
    # a copy repository (`--repository` naming one): its snapshots have ids of their own, and the
    # catalog's listing is the first repository's, so an id is looked up in the copy itself, where
    # the first repository's id of the same backup (`original`) names it too (docs/repositories.md)
    copy: str | None = None

    def choose(self) -> Choice:
        spec = self.spec.strip().lower()
        if spec == "latest" or (spec == "random" and self.allow_random):
            candidates = self._current()
            if not candidates:
                raise self.none_yet()
            if spec == "latest":
                return Choice(candidates[-1].id, (), candidates[-1].id)
            self.measured["random_among"] = len(candidates)
            pick = random.SystemRandom().choice(candidates)
            return Choice(pick.id, (), pick.id)
        if spec.startswith("before:"):
            return self._before(parse_before(self.spec.strip()[len("before:"):], self.now, self.label))
        if not SNAPSHOT_ID_RE.match(spec):
            forms = "latest, random" if self.allow_random else "latest"
            raise errors.UsageError(f"{self.label}: expected {forms} or a snapshot id (4 to 64 hex digits), "
                                    f"or before:TIME, got '{self.spec}'")
        if self.copy is not None:
            return self._in_copy(spec)
        matches = [row.id for row in self.catalog.snapshots(self.policy.name) if row.id.startswith(spec)]
        if len(set(matches)) == 1:
            return Choice(matches[0], (), matches[0])
        return Choice(spec, ())  # unknown to the catalog: restic resolves (and vets) the prefix

    def _in_copy(self, spec: str) -> Choice:
        """An id in a copy: the copy's own, else the first repository's id of the backup it copied."""
        snapshots = self._tagged()
        for key in (lambda s: s.id, lambda s: s.original or ""):
            found = {s.id for s in snapshots if key(s).startswith(spec)}
            if len(found) == 1:
                (chosen,) = found
                return Choice(chosen, (), chosen)
            if len(found) > 1:
                raise errors.UsageError(f"snapshot id '{self.spec}' is ambiguous in repository {self.copy}",
                                        hint="give more digits")
        return Choice(spec, ())  # restic says it is not there; not_found words it for the copy

    def _current(self) -> list[Snapshot]:
        """The policy's snapshots, oldest first, without those dated in the future."""
        known = {row.id for row in self.catalog.snapshots(self.policy.name)}
        snapshots = sorted(self._tagged(), key=lambda s: s.time)
        future = [s for s in snapshots if s.time > self.now + CLOCK_SKEW]
        if future:
            self.measured["skipped_future_snapshots"] = [s.short_id for s in future]
            self.warnings.append(f"skipped {count_of(len(future), 'snapshot')} dated in the future (clock skew on the host "
                                 f"that made them?): {', '.join(s.short_id for s in future[:5])}")
        current = [s for s in snapshots if s.time <= self.now + CLOCK_SKEW]
        if current and current[-1].original_id not in known:
            self.measured["catalog_was_stale"] = True  # the local listing missed the newest snapshot
        return current

    def _tagged(self) -> list[Snapshot]:
        """The policy's tagged snapshots as the repository holds them now."""
        tag = policy_tag(self.policy.name)
        if self.list_ids is None:
            return self.restic.snapshots(tags=[tag])
        refresh_by_difference(self.catalog, self.policy, self.restic, self.list_ids())
        tagged = [Snapshot(row.id, row.id[:8], row.time, [], row.hostname, row.tags)
                  for row in self.catalog.snapshots(self.policy.name) if tag in row.tags]
        # none at all: restic says whether that is so or why (no repository at the URL, wrong password)
        return tagged or self.restic.snapshots(tags=[tag])

    def _before(self, moment: datetime) -> Choice:
        """The newest of the policy's snapshots taken strictly before `moment`."""
        candidates = [s for s in self._current() if s.time < moment]
        if not candidates:
            raise errors.UsageError(f"{self.policy.name}: no drkit snapshot taken before {format_when(moment)} UTC",
                                    hint=f"list them: drkit snapshots {self.policy.name}")
        self.measured["before"] = moment.isoformat()
        return Choice(candidates[-1].id, (), candidates[-1].id)

    def known_size(self, snapshot_id: str | None) -> int | None:
        if not snapshot_id:
            return None
        record = self.catalog.backup_record(self.policy.name, snapshot_id)
        return record.bytes if record is not None and record.bytes > 0 else None

    def none_yet(self) -> errors.DrkitError:
        return errors.DrkitError(f"{self.policy.name}: no drkit snapshot to {self.what} yet",
                                 hint=f"run: drkit backup {self.policy.name}")

    def not_found(self, notes: list[str]) -> errors.DrkitError:
        if self.spec.strip().lower() in ("latest", "random") or self.spec.strip().lower().startswith("before:"):
            return self.none_yet()
        text = " ".join(notes).lower()
        if "multiple" in text or "ambiguous" in text:
            return errors.UsageError(f"snapshot id '{self.spec}' is ambiguous", hint="give more digits")
        hint = f"list them: drkit snapshots {self.policy.name}"
        if self.copy is not None:
            return errors.UsageError(f"no snapshot '{self.spec}' in repository {self.copy} of {self.policy.name} "
                                     "(neither its own id nor the id of the backup it copied)",
                                     hint=f"{hint} --repository {self.copy}")
        if self._listed_before():
            return errors.UsageError(f"snapshot '{self.spec}' is no longer in the repository of {self.policy.name} "
                                     "(forgotten or pruned since it was listed)", hint=hint)
        return errors.UsageError(f"no snapshot '{self.spec}' in the repository of {self.policy.name}", hint=hint)

    def _listed_before(self) -> bool:
        """Whether the local snapshot list still names it: the repository changed since it was read."""
        spec = self.spec.strip().lower()
        return any(row.id.startswith(spec) for row in self.catalog.snapshots(self.policy.name))


def parse_before(text: str, now: datetime, label: str = "--snapshot") -> datetime:
    """`before:` takes an ISO date or datetime (UTC unless it names a zone) or a duration ago."""
    from drkit.views.report.model import parse_moment  # the one ISO moment reader (report --since)

    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return parse_moment(text)
    except ValueError:
        raise errors.UsageError(f"{label} before:{text}: expected an ISO date or datetime "
                                "(2026-03-01, 2026-03-01T12:00:00Z; UTC unless it names a zone) "
                                "or a duration ago (2h, 3d)") from None
