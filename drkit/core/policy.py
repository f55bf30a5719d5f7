"""Policy files: YAML -> pydantic models, with every error reported as `FILE:LINE: field.path: message`.

One policy per file (`version: 1`). Unknown keys are errors (typo protection); secrets are
referenced (password_file / password_env / password_command), never inlined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from drkit.core.durations import parse_duration
from drkit.core.errors import PolicyError
from drkit.core.locations import check_repository_url
from drkit.core.policy_source import guard_scalar_constructors, node_problems, read_policy_text
from drkit.core.schedules import SchedulePhrase, parse_phrase

POLICY_VERSION = 1
NAME_RE = r"^[a-z0-9][a-z0-9-]*$"


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(lambda d: d.total_seconds(), return_type=float),
    Field(json_schema_extra={"type": "string", "examples": ["90s", "15m", "4h", "1d", "1w", "PT4H"]}),
]


def _phrase(value: Any) -> SchedulePhrase:
    if isinstance(value, SchedulePhrase):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a schedule phrase such as 'every day at 01:30'")
    return parse_phrase(value)


def _whole_number(value: Any) -> Any:
    """YAML's `true` and `1.0` are not counts: pydantic's lax int would take them as 1."""
    if isinstance(value, bool | float):
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        raise ValueError(f"{shown}: expected a whole number, such as 3")
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
MAX_KEEP = 1_000_000      # restic keep_* counts: more than any schedule makes in a century
MAX_LOCK_DAYS = 36_500    # 100 years of S3 Object Lock is already irreversible for a lifetime


Phrase = Annotated[
    SchedulePhrase,
    BeforeValidator(_phrase),
    PlainSerializer(lambda p: p.text, return_type=str),
    Field(json_schema_extra={"type": "string", "examples": ["every day at 01:30", "every 15 minutes"]}),
]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- business -------------------------------------------------------------------------------

class Contact(Model):
    role: str
    name: str
    phone: str | None = None
    email: str | None = None


class Business(Model):
    function: str | None = Field(None, description="Business function this data serves")
    owner: str | None = Field(None, description="Accountable owner, e.g. 'Jane Doe <jane@example.com>'")
    tier: WholeNumber = Field(3, ge=1, le=5, description="1 = most critical")
    contacts: list[Contact] = []


class Objectives(Model):
    rpo: Duration = Field(description="Recovery point objective: most data loss allowed")
    rto: Duration = Field(description="Recovery time objective: longest time to be back online")


# --- targets ----------------------------------------------------------------------------------

def _absolute(value: Path) -> Path:
    if not value.is_absolute():
        raise ValueError(f"'{value}' must be an absolute path")
    return value


AbsolutePath = Annotated[Path, AfterValidator(_absolute)]


class PathTarget(Model):
    path: AbsolutePath = Field(description="Absolute path of a file or directory to back up")
    exclude: list[str] = Field([], description="restic --exclude patterns")

    @property
    def label(self) -> str:
        return f"path {self.path}"


class PostgresSource(Model):
    dsn: str = Field(description="libpq connection string; password via ~/.pgpass or PGPASSFILE, not inline")
    dump_args: list[str] = Field([], description="extra pg_dump arguments")


class PostgresTarget(Model):
    postgres: PostgresSource

    @property
    def label(self) -> str:
        return f"postgres {_redact_dsn(self.postgres.dsn)}"


class SqliteTarget(Model):
    sqlite: AbsolutePath = Field(description="Absolute path of a SQLite database (copied with the online backup API)")

    @property
    def label(self) -> str:
        return f"sqlite {self.sqlite}"


class CommandSource(Model):
    run: list[str] = Field(min_length=1, description="argv of a command whose stdout is backed up")
    filename: str = Field(pattern=r"^[A-Za-z0-9._-]+$", description="file name the output is stored under")
    timeout: Duration = Field(timedelta(hours=6), description="the command is stopped after this long")


class CommandTarget(Model):
    command: CommandSource

    @property
    def label(self) -> str:
        return f"command {self.command.filename}"


Target = Union[PathTarget, PostgresTarget, SqliteTarget, CommandTarget]


# --- schedule, retention, repository -------------------------------------------------------------

class Schedule(Model):
    backup: Phrase | None = Field(None, description="When to back up, e.g. 'every day at 01:30', 'every 15 minutes'")
    drill: Phrase | None = Field(None, description="When to run a restore drill; none = one drill expected per 30 days")
    check: Phrase | None = Field(None, description="When to check repository integrity (rotating read-data subsets)")
    forget: Phrase | None = Field(None, description="When to apply retention (restic forget, then prune)")


class Retention(Model):
    keep_last: WholeNumber | None = Field(None, ge=1, le=MAX_KEEP, description="restic forget --keep-last (and so on for each keep_*)")
    keep_hourly: WholeNumber | None = Field(None, ge=1, le=MAX_KEEP)
    keep_daily: WholeNumber | None = Field(None, ge=1, le=MAX_KEEP)
    keep_weekly: WholeNumber | None = Field(None, ge=1, le=MAX_KEEP)
    keep_monthly: WholeNumber | None = Field(None, ge=1, le=MAX_KEEP)
    keep_yearly: WholeNumber | None = Field(None, ge=1, le=MAX_KEEP)
    keep_within: Duration | None = Field(None, description="keep every snapshot younger than this")

    def is_empty(self) -> bool:
        return all(v is None for v in self.model_dump().values())


class Repository(Model):
    url: str = Field(description="restic repository string, e.g. s3:https://s3.amazonaws.com/bucket/prefix")
    password_file: Path | None = Field(None, description="file holding the repository password (0600)")
    password_env: str | None = Field(None, description="name of an environment variable holding the password")
    password_command: list[str] | None = Field(None, description="argv of a program printing the password")
    aws_profile: str | None = Field(None, description="AWS profile (SSO/role profiles resolved by boto3); default: AWS chain")
    region: str | None = Field(None, description="S3 region; default from an AWS host name, else us-east-1")
    require_object_lock: bool = Field(False, description="`repo init` exits 3 when the bucket has no Object Lock")
    lock_days: WholeNumber | None = Field(None, ge=1, le=MAX_LOCK_DAYS, description="Object Lock retention set on new objects after backup")

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        return check_repository_url(value)

    @model_validator(mode="after")
    def _one_password_source(self) -> "Repository":
        given = [n for n in ("password_file", "password_env", "password_command") if getattr(self, n)]
        if not given:
            raise ValueError("no password source: set password_file, password_env or password_command")
        if len(given) > 1:
            raise ValueError(f"more than one password source ({', '.join(given)}); keep exactly one")
        return self


# --- drill, notify ------------------------------------------------------------------------------

class SqliteCheckSpec(Model):
    path: str = Field(description="database path inside the restored tree (relative) or the original absolute path")
    query: str | None = None
    expect: str | int | float | None = None
    expect_min: float | None = None


class PostgresQuerySpec(Model):
    sql: str
    expect: str | int | float | None = None
    expect_min: float | None = None


class CommandCheckSpec(Model):
    run: list[str] = Field(min_length=1)
    timeout: Duration = timedelta(minutes=10)


class FileExistsCheck(Model):
    file_exists: str = Field(description="path relative to the restored tree (or the original absolute path)")


class SqliteCheck(Model):
    sqlite: SqliteCheckSpec


class PostgresQueryCheck(Model):
    postgres_query: PostgresQuerySpec


class CommandCheck(Model):
    command: list[str] | CommandCheckSpec

    @property
    def spec(self) -> CommandCheckSpec:
        return self.command if isinstance(self.command, CommandCheckSpec) else CommandCheckSpec(run=self.command)


Check = Union[FileExistsCheck, SqliteCheck, PostgresQueryCheck, CommandCheck]


def _verify_mode(value: Any) -> str:
    text = str(value).strip()
    if text == "full":
        return text
    match = re.fullmatch(r"sample:(\d+(?:\.\d+)?)%", text)
    if match and 0 < float(match.group(1)) <= 100:
        return text
    raise ValueError(f"'{value}': use 'full' or 'sample:N%' (0 < N <= 100)")


class Drill(Model):
    sandbox: Path = Field(Path("/var/tmp/drkit-drills"), description="parent directory for drill sandboxes")
    verify: Annotated[str, BeforeValidator(_verify_mode)] = Field(
        "full", description="sha256 of every restored file ('full') or a random sample ('sample:5%')")
    checks: list[Check] = Field([], description="application checks run on the restored data")

    @property
    def sample_percent(self) -> float:
        return 100.0 if self.verify == "full" else float(self.verify[len("sample:"):-1])


Event = Literal["start", "success", "failure", "breach"]


class WebhookNotify(Model):
    webhook: str = Field(description="URL that receives a JSON POST per run")
    on: list[Event] = Field(["failure", "breach"], description="events: start, success, failure, breach")


class HealthcheckNotify(Model):
    healthcheck: str = Field(description="healthchecks.io-style base URL; /start and /fail are appended")
    on: list[Event] = ["start", "success", "failure", "breach"]


class EmailSpec(Model):
    to: list[str] = Field(min_length=1)
    sender: str | None = Field(None, alias="from")
    smtp_host: str | None = None
    smtp_port: WholeNumber | None = Field(None, ge=1, le=65535)


class EmailNotify(Model):
    email: EmailSpec
    on: list[Event] = ["failure", "breach"]


Notify = Union[WebhookNotify, HealthcheckNotify, EmailNotify]


# --- the policy ---------------------------------------------------------------------------------

class Policy(Model):
    version: Annotated[Literal[1], BeforeValidator(_whole_number)] = Field(description="Policy file format version; always 1")
    name: str = Field(pattern=NAME_RE, max_length=63, description="[a-z0-9-]+, unique across the policies directory")
    description: str | None = Field(None, description="What this policy protects, for report readers")
    business: Business = Business()
    objectives: Objectives
    targets: list[Target] = Field(min_length=1)
    schedule: Schedule = Schedule()
    retention: Retention = Retention()
    repository: Repository
    drill: Drill = Drill()
    notify: list[Notify] = []

    @property
    def paths(self) -> list[Path]:
        return [t.path for t in self.targets if isinstance(t, PathTarget)]


class LoadedPolicy(BaseModel):
    """A policy and the file it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    policy: Policy
    file: Path

    @property
    def name(self) -> str:
        return self.policy.name


# --- loading with line numbers ------------------------------------------------------------------

class _LineLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so `on: [failure]` stays the key 'on'
    (YAML 1.1 would read on/off/yes/no as booleans)."""


_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
guard_scalar_constructors(_LineLoader)


def _node_at(node: yaml.Node | None, loc: tuple[Any, ...]) -> yaml.Node | None:
    """Walk the YAML node tree along an error location. A mapping entry resolves to its *key*
    node: the key's line is where the reader looks (a block value starts on the next line)."""
    for depth, part in enumerate(loc, 1):
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == part), None)
            if pair is None:
                return node
            if depth == len(loc):
                return pair[0]
            node = pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
    return node


def _clean_loc(loc: tuple[Any, ...]) -> list[Any]:
    """Drop pydantic's union-member tags so the path reads like the YAML."""
    return [p for p in loc if not (isinstance(p, str) and (p[:1].isupper() or p.startswith("function-")))]


def _fmt_loc(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _messages_for(exc: ValidationError, root: yaml.Node | None, file: Path, data: Any) -> list[str]:
    problems: dict[tuple, tuple[int, str]] = {}
    for err in exc.errors():
        loc = list(err["loc"])
        member = next((p for p in loc if isinstance(p, str) and p[:1].isupper()), None)
        clean = _clean_loc(tuple(loc))
        if member is not None:
            # A list item matched no union member: pydantic reports every member's complaint.
            # Keep those of the member whose key the item carries; otherwise one "unknown kind".
            item_loc = _clean_loc(tuple(loc[: loc.index(member)]))
            item = _get(data, item_loc)
            if isinstance(item, dict) and not _member_matches(member, item):
                if not any(_member_matches(m, item) for m in _MEMBER_KEY):
                    kinds = ", ".join(_MEMBER_KEYS.get(str(item_loc[-2]) if len(item_loc) > 1 else "", []))
                    line = _line_no(_node_at(root, tuple(item_loc)))
                    problems[(tuple(item_loc), "kind")] = (line, f"{_fmt_loc(item_loc)}: unknown kind {sorted(item)}; "
                                                                 f"expected one of the keys {kinds}")
                continue
        msg = _friendly(err, clean)
        problems.setdefault((tuple(clean), msg), (_line_no(_node_at(root, tuple(clean))), f"{_fmt_loc(clean)}: {msg}"))
    return [f"{file}:{line}: {text}" for line, text in sorted(problems.values(), key=lambda p: p[0])]


def _friendly(err: dict, clean: list[Any]) -> str:
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        return f"unknown key '{clean[-1]}' (check the spelling; see `drkit policy schema`)"
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "string_pattern_mismatch" and clean[-1:] == ["name"]:
        return f"{err['input']!r}: use lowercase letters, digits and '-' (e.g. shop-db)"
    return msg.removeprefix("Value error, ")


def _line_no(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 1


_MEMBER_KEYS = {
    "targets": ["path", "postgres", "sqlite", "command"],
    "checks": ["file_exists", "sqlite", "postgres_query", "command"],
    "notify": ["webhook", "healthcheck", "email"],
}
_MEMBER_KEY = {
    "PathTarget": "path", "PostgresTarget": "postgres", "SqliteTarget": "sqlite", "CommandTarget": "command",
    "FileExistsCheck": "file_exists", "SqliteCheck": "sqlite", "PostgresQueryCheck": "postgres_query",
    "CommandCheck": "command", "WebhookNotify": "webhook", "HealthcheckNotify": "healthcheck",
    "EmailNotify": "email",
}
_ALL_MEMBERS = list(_MEMBER_KEY)


def _member_matches(member: str, item: dict) -> bool:
    key = _MEMBER_KEY.get(member)
    return key is not None and key in item


def _get(data: Any, loc: list[Any]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def load_policy_file(file: Path) -> Policy:
    """Parse and validate one policy file; raise PolicyError listing every problem in it."""
    text = read_policy_text(file)
    try:
        loader = _LineLoader(text)  # one parse: the nodes give lines, the same nodes give the data
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([f"{file}:{line}: (yaml): {problem}"]) from None
    if not isinstance(data, dict):
        raise PolicyError([f"{file}:1: (top level): expected a mapping with version, name, objectives, …"])
    if text_problems := node_problems(root, file):
        raise PolicyError(text_problems)
    dupes = _duplicate_keys(root, file)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(dupes + _messages_for(exc, root, file, data)) from None
    if dupes:
        raise PolicyError(dupes)
    return policy


def _duplicate_keys(node: yaml.Node | None, file: Path, path: str = "") -> list[str]:
    """YAML silently keeps the last of two equal keys; a policy must not."""
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            where = f"{path}.{key.value}" if path else str(key.value)
            if key.value in seen:
                problems.append(f"{file}:{key.start_mark.line + 1}: {where}: duplicate key")
            seen.add(key.value)
            problems += _duplicate_keys(value, file, where)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, file, f"{path}[{i}]")
    return problems


def policy_files(paths: list[Path]) -> list[Path]:
    """Expand directories to their *.yaml / *.yml files, sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            files.append(path)
    return files


@dataclass(frozen=True)
class PolicyScan:
    """Every policy file of a directory, each loaded on its own: one broken file must not stop
    commands on the others (docs/reliability.md). `problems` holds the broken files' lines."""

    loaded: list[LoadedPolicy]
    problems: list[str]


def scan_policies(paths: list[Path]) -> PolicyScan:
    """Load every file; collect every problem of every file. A file whose policy name an earlier
    file already uses is a problem and is left out."""
    problems: list[str] = []
    loaded: list[LoadedPolicy] = []
    try:
        files = policy_files(paths)
    except OSError as exc:  # an unreadable directory
        return PolicyScan([], [f"{exc.filename}:1: (file): cannot read directory: {exc.strerror}"])
    for file in files:
        if not file.exists():
            problems.append(f"{file}:1: (file): no such file or directory")
            continue
        try:
            loaded.append(LoadedPolicy(policy=load_policy_file(file), file=file))
        except PolicyError as exc:
            problems += exc.problems
    seen: dict[str, Path] = {}
    unique: list[LoadedPolicy] = []
    for item in loaded:
        if item.name in seen:
            line = _name_line(item.file)
            problems.append(f"{item.file}:{line}: name: policy name '{item.name}' is also used by {seen[item.name]}")
        else:
            seen[item.name] = item.file
            unique.append(item)
    return PolicyScan(unique, problems)


def load_policies(paths: list[Path]) -> list[LoadedPolicy]:
    """Load every file; collect every problem of every file, then raise once."""
    scan = scan_policies(paths)
    if scan.problems:
        raise PolicyError(scan.problems)
    return scan.loaded


def _name_line(file: Path) -> int:
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("name:"):
            return number
    return 1


def find_policy(policies: list[LoadedPolicy], name: str) -> LoadedPolicy:
    from drkit.core.errors import UsageError

    for item in policies:
        if item.name == name:
            return item
    known = ", ".join(p.name for p in policies) or "none"
    raise UsageError(f"no policy named '{name}' (known: {known})")


def json_schema() -> dict:
    schema = Policy.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "drkit policy file"
    return schema


def _redact_dsn(dsn: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", dsn)
