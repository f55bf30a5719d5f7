"""The drill-check registry and how checks run: one result per check, never an exception.

A check kind is a model (its `drill.checks:` mapping, selected by its YAML key) and a function
registered with `@register_check`. The function returns a detail line when the check passes and
raises `CheckFailed` (restored data wrong: FAIL) or `CheckError` (the check could not run: ERROR);
`run_check` times it and never raises, so one broken check cannot hide the others.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from pydantic import BaseModel

from drkit.core import errors
from drkit.core.policy import CHECKS, Policy
from drkit.engines.databases.server import DatabaseRef

if TYPE_CHECKING:
    from drkit.engines.databases.server import Throwaway


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    seconds: float
    detail: str = ""
    error: bool = False  # could not run (ERROR), as opposed to ran and found the data wrong (FAIL)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DatabaseLookup(Protocol):
    """The drill's running throw-away servers (drkit/jobs/drill/databases.py)."""

    def resolve(self, ref: DatabaseRef) -> tuple["Throwaway", str]:
        """The server and database a query check means; CheckError / CheckFailed when none fits."""


@dataclass(frozen=True)
class CheckContext:
    sandbox: Path  # resolved
    staging: str | None  # the policy's staging dir as stored in the snapshot (absolute), if any
    policy: Policy
    base_dir: Path  # the policy file's directory: command checks run there
    databases: DatabaseLookup | None = None  # throw-away servers on the restored dumps, when the policy has any


class CheckFailed(Exception):
    """The restored data did not pass the check."""


class CheckError(Exception):
    """The check could not run (not implemented, misconfigured, internal error)."""


@dataclass(frozen=True)
class ManualContext:
    """What a check's by-hand form needs: the restored tree is `$RESTORE` in a shell (a runbook)."""

    staging: str  # the policy's staging dir as stored in the snapshot (absolute)
    policy: Policy
    base_dir: Path  # the policy file's directory


CheckFn = Callable[[Any, CheckContext], str]
ManualFn = Callable[[Any, ManualContext], str]


@dataclass(frozen=True)
class CheckKind:
    """How results name a check of this kind, the function that runs it, which database a query on
    a throw-away server asks (its time is that database's `queries`), and the shell command a
    person runs to do the same by hand (runbooks; None: the runbook names the check instead)."""

    name: Callable[[Any], str]
    run: CheckFn
    database: Callable[[Any], DatabaseRef] | None = None
    by_hand: ManualFn | None = None


def register_check(model: type[BaseModel], *, key: str, name: Callable[[Any], str],
                   database: Callable[[Any], DatabaseRef] | None = None,
                   by_hand: ManualFn | None = None) -> Callable[[CheckFn], CheckFn]:
    """Decorator: `model` entries of `drill.checks` (selected by the YAML `key`) run this function;
    `by_hand(check, ctx)` gives the shell command a runbook prints for it."""
    def decorate(func: CheckFn) -> CheckFn:
        CHECKS.add(key, model, CheckKind(name, func, database, by_hand))
        return func
    return decorate


def database_of(check: Any) -> DatabaseRef | None:
    """The database a check queries, None for checks on the restored files."""
    kind = CHECKS.get(check)
    return kind.database(check) if kind is not None and kind.database is not None else None


def check_name(check: Any) -> str:
    kind = CHECKS.get(check)
    return kind.name(check) if kind else type(check).__name__


def check_command(check: Any, ctx: ManualContext) -> str:
    """A shell line that does what the check does, on `$RESTORE`; a comment naming it when its kind
    has no by-hand form."""
    kind = CHECKS.get(check)
    if kind is not None and kind.by_hand is not None:
        return kind.by_hand(check, ctx)
    return f"# {check_name(check)}: no command form; check this by hand"


def run_check(check: Any, ctx: CheckContext) -> CheckResult:
    kind = CHECKS.get(check)
    start = time.monotonic()
    name = check_name(check)
    if kind is None:
        return CheckResult(name, False, 0.0, f"no check registered for {type(check).__name__}", error=True)
    try:
        detail = kind.run(check, ctx)
        return CheckResult(name, True, time.monotonic() - start, detail)
    except CheckFailed as exc:
        return CheckResult(name, False, time.monotonic() - start, str(exc))
    except CheckError as exc:
        return CheckResult(name, False, time.monotonic() - start, str(exc), error=True)
    except errors.Interrupted:
        raise  # SIGTERM: the drill stops here, it is not this check's verdict
    except Exception as exc:  # noqa: BLE001 - a check bug must surface as ERROR, not kill the drill
        return CheckResult(name, False, time.monotonic() - start, f"internal error: {type(exc).__name__}: {exc}",
                           error=True)


def run_checks(checks: list[Any], ctx: CheckContext) -> list[CheckResult]:
    return [run_check(check, ctx) for check in checks]
