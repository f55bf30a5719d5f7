"""Application checks a drill runs on the restored tree (policy `drill.checks`).

A small registry maps each check model type (drkit.core.policy) to a function; adding a kind (the
PostgreSQL drill, say) is one `@register(Model, name=...)` function. A check function returns a
detail line when the check passes and raises `CheckFailed` (restored data wrong: FAIL) or
`CheckError` (the check could not run: ERROR); `run_check` times it and never raises, so one
broken check cannot hide the others. Paths in checks are confined to the sandbox: a restored
symlink pointing at live data must not make a check pass.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable
from urllib.parse import quote

from drkit.core import errors
from drkit.core.durations import format_duration
from drkit.core.policy import CommandCheck, FileExistsCheck, Policy, PostgresQueryCheck, SqliteCheck
from drkit.targets import target_kind

POSTGRES_NOT_IMPLEMENTED = "postgres_query checks need the PostgreSQL drill support (not yet implemented)"


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    seconds: float
    detail: str = ""
    error: bool = False  # could not run (ERROR), as opposed to ran and found the data wrong (FAIL)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckContext:
    sandbox: Path  # resolved
    staging: str | None  # the policy's staging dir as stored in the snapshot (absolute), if any
    policy: Policy
    base_dir: Path  # the policy file's directory: command checks run there


class CheckFailed(Exception):
    """The restored data did not pass the check."""


class CheckError(Exception):
    """The check could not run (not implemented, misconfigured, internal error)."""


CheckFn = Callable[[Any, CheckContext], str]


@dataclass(frozen=True)
class _Entry:
    name: Callable[[Any], str]
    run: CheckFn


_REGISTRY: dict[type, _Entry] = {}


def register(model: type, *, name: Callable[[Any], str]) -> Callable[[CheckFn], CheckFn]:
    def decorate(func: CheckFn) -> CheckFn:
        _REGISTRY[model] = _Entry(name, func)
        return func
    return decorate


def check_name(check: Any) -> str:
    entry = _REGISTRY.get(type(check))
    return entry.name(check) if entry else type(check).__name__


def run_check(check: Any, ctx: CheckContext) -> CheckResult:
    entry = _REGISTRY.get(type(check))
    start = time.monotonic()
    name = check_name(check)
    if entry is None:
        return CheckResult(name, False, 0.0, f"no check registered for {type(check).__name__}", error=True)
    try:
        detail = entry.run(check, ctx)
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


# --- paths ---------------------------------------------------------------------------------------

def sandbox_path(ctx: CheckContext, path: str) -> Path:
    """Map a check path into the sandbox: relative to its root, or an absolute original path
    (restic restores /srv/x to sandbox/srv/x). Refuse paths that leave the sandbox, lexically
    or through a restored symlink."""
    pure = PurePosixPath(path)
    relative = pure.relative_to("/") if pure.is_absolute() else pure
    lexical = Path(os.path.normpath(ctx.sandbox / relative))
    if not _inside(lexical, ctx.sandbox):
        raise CheckFailed(f"{path}: leaves the sandbox")
    real = Path(os.path.realpath(lexical))
    if not _inside(real, ctx.sandbox):
        raise CheckFailed(f"{path}: resolves outside the sandbox ({real}) through a restored symlink")
    return real


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


# --- file_exists ---------------------------------------------------------------------------------

@register(FileExistsCheck, name=lambda c: f"file_exists {c.file_exists}")
def file_exists(check: FileExistsCheck, ctx: CheckContext) -> str:
    target = sandbox_path(ctx, check.file_exists)
    if not os.path.lexists(target):
        raise CheckFailed("not in the restored tree")
    return f"found {target.relative_to(ctx.sandbox)}"


# --- sqlite --------------------------------------------------------------------------------------

def sqlite_location(ctx: CheckContext, path: str) -> Path:
    """The live path of a target (a sqlite database) maps to its copy in the restore (its staged
    copy, drkit/targets/sqlite.py); any other path maps like file_exists."""
    for target in ctx.policy.targets:
        kind = target_kind(target)
        if any(str(live.path) == path for live in kind.live_paths(target)):
            if ctx.staging is None:
                raise CheckError(f"{path}: the snapshot has no drkit staging dir holding its copy")
            return sandbox_path(ctx, str(kind.restored_path(target, Path(ctx.staging))))
    return sandbox_path(ctx, path)


def value_problem(value: Any, expect: Any, expect_min: float | None) -> str | None:
    """Compare a query's first value with the check's expectations (numbers numerically)."""
    if expect is not None:
        if isinstance(expect, (int, float)) and not isinstance(expect, bool):
            try:
                ok = float(value) == float(expect)
            except (TypeError, ValueError):
                ok = False
        else:
            ok = str(value) == str(expect)
        if not ok:
            return f"returned {value!r}, expected {expect!r}"
    if expect_min is not None:
        try:
            ok = float(value) >= expect_min
        except (TypeError, ValueError):
            ok = False
        if not ok:
            return f"returned {value!r}, expected at least {expect_min:g}"
    return None


@register(SqliteCheck, name=lambda c: f"sqlite {c.sqlite.path}" + (f": {c.sqlite.query}" if c.sqlite.query else ""))
def sqlite_check(check: SqliteCheck, ctx: CheckContext) -> str:
    spec = check.sqlite
    db = sqlite_location(ctx, spec.path)
    if not db.is_file():
        raise CheckFailed(f"database not in the restored tree (looked at {db.relative_to(ctx.sandbox)})")
    try:
        con = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise CheckFailed(f"cannot open ({exc})") from None
    try:
        rows = con.execute("pragma integrity_check").fetchall()
        if rows != [("ok",)]:
            raise CheckFailed(f"integrity_check: {'; '.join(str(r[0]) for r in rows[:3])}")
        if not spec.query:
            return "integrity_check ok"
        row = con.execute(spec.query).fetchone()
    except sqlite3.Error as exc:
        raise CheckFailed(str(exc)) from None
    finally:
        con.close()
    if row is None:
        if spec.expect is not None or spec.expect_min is not None:
            raise CheckFailed("query returned no rows")
        return "integrity_check ok; query returned no rows"
    problem = value_problem(row[0], spec.expect, spec.expect_min)
    if problem:
        raise CheckFailed(f"query {problem}")
    return f"integrity_check ok; query = {row[0]!r}"


# --- postgres_query (the PostgreSQL drill plugs in here) -------------------------------------------

@register(PostgresQueryCheck, name=lambda c: f"postgres_query {c.postgres_query.sql}")
def postgres_query(check: PostgresQueryCheck, ctx: CheckContext) -> str:
    raise CheckError(POSTGRES_NOT_IMPLEMENTED)


# --- command -------------------------------------------------------------------------------------

def command_argv(argv: list[str], sandbox: Path) -> list[str]:
    return [arg.replace("{sandbox}", str(sandbox)) for arg in argv]


def command_env(sandbox: Path) -> dict[str, str]:
    """drkit's environment minus restic's secrets, plus DRKIT_SANDBOX."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env["DRKIT_SANDBOX"] = str(sandbox)
    return env


@register(CommandCheck, name=lambda c: "command " + " ".join(c.spec.run))
def command_check(check: CommandCheck, ctx: CheckContext) -> str:
    spec = check.spec
    argv = command_argv(spec.run, ctx.sandbox)
    timeout = spec.timeout.total_seconds()
    try:
        proc = subprocess.Popen(argv, cwd=ctx.base_dir, env=command_env(ctx.sandbox), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except FileNotFoundError:
        raise CheckFailed(f"program {argv[0]!r} not found (cwd {ctx.base_dir})") from None
    except PermissionError:
        raise CheckFailed(f"program {argv[0]!r} is not executable") from None
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise CheckFailed(f"timed out after {format_duration(timeout)}") from None
    except BaseException:  # interrupted: never leave the check running on the sandbox
        _kill_group(proc)
        raise
    if proc.returncode != 0:
        tail = _last_line(stderr) or _last_line(stdout)
        raise CheckFailed(f"exit {proc.returncode}" + (f": {tail}" if tail else ""))
    tail = _last_line(stdout)
    return "exit 0" + (f": {tail}" if tail else "")


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the check and whatever it started (a shell's children keep the pipes open)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def _last_line(data: bytes) -> str:
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""
