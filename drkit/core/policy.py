"""Policy files: YAML -> pydantic models, with every error reported as `FILE:LINE: field.path: message`.

One policy per file (`version: 1`). Unknown keys are errors (typo protection); secrets are
referenced (password_file / password_env / password_command), never inlined. The items of
`targets`, `drill.checks` and `notify` are validated against registries of kinds (TARGETS, CHECKS,
NOTIFIERS; drkit/core/kinds.py) that drkit's packages and plug-ins fill (docs/extending.md).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from drkit.core.durations import parse_duration
from drkit.core.errors import PolicyError, Problem, UsageError
from drkit.core.kinds import KindRegistry
from drkit.core.locations import check_repository_url
from drkit.core.moments import utc_moment
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
    # Not JSON Schema's `format: duration` (ISO 8601 only, which would flag `90s` in editors).
    WithJsonSchema({"type": "string", "examples": ["90s", "15m", "4h", "1d", "1w", "PT4H"],
                    "description": "a duration: a number with s, m, h, d or w, or ISO 8601 (PT4H)"}),
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


def _number(value: Any) -> Any:
    """YAML's `true` is not a threshold: pydantic's lax float would take it as 1.0."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()}: expected a number, such as 50")
    return value


Number = Annotated[float, BeforeValidator(_number)]
MAX_KEEP = 1_000_000      # restic keep_* counts: more than any schedule makes in a century
MAX_LOCK_DAYS = 36_500    # 100 years of S3 Object Lock is already irreversible for a lifetime


# WithJsonSchema, not json_schema_extra: extra keys would sit beside a $ref to the SchedulePhrase
# object, and no string satisfies both (editors would flag every schedule).
Phrase = Annotated[
    SchedulePhrase,
    BeforeValidator(_phrase),
    PlainSerializer(lambda p: p.text, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["every day at 01:30", "every 15 minutes"]}),
]


Moment = Annotated[
    datetime,
    BeforeValidator(utc_moment),
    PlainSerializer(lambda t: t.isoformat().replace("+00:00", "Z"), return_type=str),
    WithJsonSchema({"type": "string", "description": "ISO 8601 date or date-time",
                    "examples": ["2026-03-01", "2026-03-01T12:00:00Z"]}),
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
    depends_on: list[Annotated[str, Field(pattern=NAME_RE)]] = Field(
        [], description="names of the policies whose systems must be recovered before this one "
                        "(`drkit runbook --all` orders by them, then by tier)")


class Objectives(Model):
    rpo: Duration = Field(description="Recovery point objective: most data loss allowed")
    rto: Duration = Field(description="Recovery time objective: longest time to be back online")
    in_force_from: Moment | None = Field(
        None, description="When these objectives took effect (a date is its midnight UTC). Time before it "
        "is not in force: shown grey, never counted for or against attainment. Default: the policy's "
        "first evidence record")
    accept_partial: bool = Field(
        False, description="Count a partial snapshot (files unreadable at backup time) as a recovery point for "
        "the RPO; by default it is degraded: it does not end an RPO breach (docs/reports.md)")


# --- targets ----------------------------------------------------------------------------------

def _absolute(value: Path) -> Path:
    if not value.is_absolute():
        raise ValueError(f"'{value}' must be an absolute path")
    return value


AbsolutePath = Annotated[Path, AfterValidator(_absolute)]

# The kinds each list accepts, by YAML key; drkit/targets, drkit/checks, drkit/notify and plug-ins
# register them (the models live with their kinds and are re-exported below).
TARGETS: KindRegistry[Any] = KindRegistry("targets", builtins="drkit.targets")
Target = Annotated[Model, TARGETS]


# --- schedule, retention, repository -------------------------------------------------------------

class Schedule(Model):
    model_config = ConfigDict(serialize_by_alias=True)

    backup: Phrase | None = Field(None, description="When to back up, e.g. 'every day at 01:30', 'every 15 minutes'")
    drill: Phrase | None = Field(None, description="When to run a restore drill; none = one drill expected per 30 days")
    check: Phrase | None = Field(None, description="When to check repository integrity (rotating read-data subsets)")
    forget: Phrase | None = Field(None, description="When to apply retention (restic forget, then prune)")
    # `copy` would shadow BaseModel.copy: the attribute is `copy_`, the YAML key `copy`.
    copy_: Phrase | None = Field(None, alias="copy",
                                 description="When to copy new snapshots to every other repository (`drkit copy`)")

    def phrase(self, job: str) -> SchedulePhrase | None:
        """The phrase of a job kind (backup, copy, forget, check, drill); None: not scheduled."""
        return getattr(self, "copy_" if job == "copy" else job, None)


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


class Guard(Model):
    """The ransomware guardrail (docs/guard.md): each backup is compared with the policy's recent
    backups; a mass change or a shrink marks it suspicious and blocks `forget` until reviewed."""

    enabled: bool = Field(True, description="judge every backup against the recent ones (docs/guard.md)")
    changed_files_percent: Number = Field(
        50, gt=0, le=100, description="suspicious when more than this % of the files already backed up changed")
    added_bytes_ratio: Number = Field(
        0.9, gt=0, le=10, description="suspicious when data added / bytes backed up exceeds this while the file "
                                      "count stayed within 10 % (encrypted in place or renamed)")
    shrink_percent: Number = Field(
        50, gt=0, le=100, description="suspicious when bytes or files fell by more than this % below the baseline")
    history: WholeNumber = Field(5, ge=1, le=100, description="how many recent clean backups form the baseline (median)")
    keep_clean: WholeNumber = Field(3, ge=0, le=MAX_KEEP,
                                    description="forget never removes the newest this many non-suspicious snapshots")


class Repository(Model):
    name: str = Field("primary", pattern=NAME_RE, max_length=63,
                      description="[a-z0-9-]+, unique within the policy; names the repository in evidence")
    url: str = Field(description="restic repository string, e.g. s3:https://s3.amazonaws.com/bucket/prefix")
    password_file: Path | None = Field(None, description="file holding the repository password (0600)")
    password_env: str | None = Field(None, description="name of an environment variable holding the password")
    password_command: list[str] | None = Field(None, description="argv of a program printing the password")
    aws_profile: str | None = Field(None, description="AWS profile (SSO/role profiles resolved by boto3); default: AWS chain")
    region: str | None = Field(None, description="S3 region; default from an AWS host name, else us-east-1")
    require_object_lock: bool = Field(False, description="`repo init` exits 3 when the bucket has no Object Lock")
    lock_days: WholeNumber | None = Field(None, ge=1, le=MAX_LOCK_DAYS, description="Object Lock retention (days) set on new objects after a backup, or after `drkit copy` into this copy")
    lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = Field(
        "COMPLIANCE", description="Object Lock mode of that retention (GOVERNANCE: removable with "
                                  "s3:BypassGovernanceRetention); docs/immutability.md")

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

CHECKS: KindRegistry[Any] = KindRegistry("drill.checks", builtins="drkit.checks")
Check = Annotated[Model, CHECKS]


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
    run_as: str | None = Field(None, description="user the throw-away database servers of a drill run as when drkit "
                                                 "runs as root (default: the `postgres` / `mysql` system user); "
                                                 "docs/databases.md")

    @property
    def sample_percent(self) -> float:
        return 100.0 if self.verify == "full" else float(self.verify[len("sample:"):-1])


Event = Literal["start", "success", "failure", "breach", "backup_suspicious"]


NOTIFIERS: KindRegistry[Any] = KindRegistry("notify", builtins="drkit.notify")
Notify = Annotated[Model, NOTIFIERS]


# --- the policy ---------------------------------------------------------------------------------

def _absent(value: Any) -> bool:
    return value is None


_STAGING = Path("/staging")  # stands for any staging dir when comparing where targets store their copies


def _one_repository_key(schema: dict[str, Any]) -> None:
    """JSON Schema for editors: exactly one of `repository` and `repositories`, neither null."""
    for key in ("repository", "repositories"):
        prop = schema["properties"][key]
        prop.pop("default", None)
        prop.update(next(branch for branch in prop.pop("anyOf") if branch != {"type": "null"}))
    schema["oneOf"] = [{"required": ["repository"]}, {"required": ["repositories"]}]


class Policy(Model):
    model_config = ConfigDict(serialize_by_alias=True, json_schema_extra=_one_repository_key)

    version: Annotated[Literal[1], BeforeValidator(_whole_number)] = Field(description="Policy file format version; always 1")
    name: str = Field(pattern=NAME_RE, max_length=63, description="[a-z0-9-]+, unique across the policies directory")
    description: str | None = Field(None, description="What this policy protects, for report readers")
    business: Business = Business()
    objectives: Objectives
    targets: list[Target] = Field(min_length=1, description="What to back up; the key of each item selects its kind")
    schedule: Schedule = Schedule()
    retention: Retention = Retention()
    # Two spellings of the repositories (docs/repositories.md); exactly one of the keys is given.
    # `repositories`/`repository` below are what callers read; these fields keep the form the
    # file used, so a dump of the policy is a valid policy again. `single_repository` comes second:
    # its validator (run even when the key is absent) reads the list validated before it.
    repository_list: list[Repository] | None = Field(
        None, alias="repositories", min_length=1, exclude_if=_absent,
        description="several repositories, each with a unique `name`; give this or `repository`, not both")
    single_repository: Repository | None = Field(
        None, alias="repository", validate_default=True, exclude_if=_absent,
        description="one repository, named `primary` unless `name` says otherwise; give this or `repositories`, not both")
    drill: Drill = Drill()
    guard: Guard = Guard()
    notify: list[Notify] = []
    post_restore: list[str] = Field([], description="What to do after `drkit restore` (printed after every restore "
                                                    "and in the runbook), e.g. 'systemctl start shop'")

    @field_validator("targets")
    @classmethod
    def _distinct_staging(cls, targets: list[Model]) -> list[Model]:
        """Two targets staged under one name would overwrite each other's dumps in one snapshot."""
        first: dict[Path, int] = {}
        for index, target in enumerate(targets):
            kind = TARGETS.of(target)
            where = kind.restored_path(target, _STAGING)
            if not where.is_relative_to(_STAGING):
                continue  # backed up in place
            if where in first:
                raise ValidationError.from_exception_data(cls.__name__, [InitErrorDetails(
                    type=PydanticCustomError("same_staging", "stores its copy under the same staging name "
                                             "('{where}') as targets[{first}]; give one of them another name",
                                             {"where": str(where.relative_to(_STAGING)), "first": first[where]}),
                    loc=(index, TARGETS.key_of(type(target))), input=target)])
            first[where] = index
        return targets

    @field_validator("repository_list")
    @classmethod
    def _unique_names(cls, repositories: list[Repository]) -> list[Repository]:
        first: dict[str, int] = {}
        for index, repo in enumerate(repositories):
            if repo.name in first:
                # Raised as a ValidationError so the error sits at the duplicate's own line.
                raise ValidationError.from_exception_data(cls.__name__, [InitErrorDetails(
                    type=PydanticCustomError("duplicate_name", "'{name}' is also the name of repositories[{first}]; "
                                                               "give each repository its own name",
                                             {"name": repo.name, "first": first[repo.name]}),
                    loc=(index, "name"), input=repo.name)])
            first[repo.name] = index
        return repositories

    @field_validator("single_repository")
    @classmethod
    def _exactly_one_form(cls, single: Repository | None, info: ValidationInfo) -> Repository | None:
        if "repository_list" not in info.data:  # `repositories` itself is wrong: that error suffices
            return single
        listed = info.data["repository_list"] is not None
        if single is None and not listed:
            raise ValueError("required field is missing (or list several under `repositories`)")
        if single is not None and listed:
            raise ValueError("give either `repository` (one) or `repositories` (a list), not both")
        return single

    @property
    def repositories(self) -> list[Repository]:
        """Every repository of the policy, in the file's order (a `repository:` policy has one)."""
        return self.repository_list or [self.single_repository]  # type: ignore[list-item]

    @property
    def repository(self) -> Repository:
        """The first repository: the one every command uses today (docs/repositories.md)."""
        return self.repositories[0]

    def copy_named(self, name: str | None) -> str | None:
        """The repository called `name` (None: the first) when it is a copy, None for the first."""
        repo = self.repository_named(name)
        return None if repo.name == self.repository.name else repo.name

    def repository_field(self, field: str, name: str | None = None) -> str:
        """Where a repository setting sits in the file, in its spelling: `repository.url`, or
        `repositories[1].url` for the repository called `name` of a list (hints name the key to edit)."""
        if self.repository_list is None:
            return f"repository.{field}"
        index = next((i for i, r in enumerate(self.repository_list) if r.name == name), 0)
        return f"repositories[{index}].{field}"

    def repository_named(self, name: str | None) -> Repository:
        """The repository called `name`; None means the first."""
        if name is None:
            return self.repository
        for repo in self.repositories:
            if repo.name == name:
                return repo
        known = ", ".join(r.name for r in self.repositories)
        raise UsageError(f"policy '{self.name}' has no repository named '{name}' (known: {known})")


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


class _FastLineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same on libyaml's parser when PyYAML has it: the same nodes and line marks, and ~6x
    cheaper, which made loading the policies the largest part of a 100-policy `drkit report`
    (docs/reports.md, "Scale"). A file it refuses is parsed again by `_LineLoader`, whose messages
    the policy errors are written for."""


for _loader in (_LineLoader, _FastLineLoader):
    _loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    guard_scalar_constructors(_loader)


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
    """Drop pydantic's union-member tags so the path reads like the YAML. pydantic names a field
    validated from its default by the Python name (`single_repository`): put the YAML key back."""
    parts = [p for p in loc if not (isinstance(p, str) and (p[:1].isupper() or p.startswith("function-")))]
    return [_YAML_KEYS.get(parts[0], parts[0]), *parts[1:]] if parts else parts


def _fmt_loc(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _messages_for(exc: ValidationError, root: yaml.Node | None, file: Path) -> list[Problem]:
    problems: dict[tuple, Problem] = {}
    for err in exc.errors():
        clean = _clean_loc(tuple(err["loc"]))
        msg = _friendly(err, clean)
        problems.setdefault((tuple(clean), msg),
                            Problem(str(file), _line_no(_node_at(root, tuple(clean))), _fmt_loc(clean), msg))
    return sorted(problems.values(), key=lambda p: p.line)


def _friendly(err: dict, clean: list[Any]) -> str:
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        return f"unknown key '{clean[-1]}' (check the spelling; see `drkit policy schema`)"
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "string_pattern_mismatch" and clean[-1:] == ["name"]:
        return f"{err['input']!r}: use lowercase letters, digits and '-' (e.g. shop-db)"
    return msg.removeprefix("Value error, ")


def line_of(file: Path, loc: tuple[Any, ...]) -> int:
    """The line of a key path in a policy file (a problem found across policies points there); 1
    when the file cannot be read again."""
    try:
        return _line_no(_node_at(yaml.compose(file.read_text(encoding="utf-8"), Loader=_LineLoader), loc))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return 1


def _line_no(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 1


_YAML_KEYS = {name: field.alias for name, field in Policy.model_fields.items() if field.alias}


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """One parse: the nodes give lines, the same nodes give the data."""
    try:
        return _parse_with(_FastLineLoader, text)
    except yaml.YAMLError:
        return _parse_with(_LineLoader, text)  # raises again, in the words tests and users know


def _parse_with(kind: type, text: str) -> tuple[yaml.Node | None, Any]:
    loader = kind(text)
    try:
        root = loader.get_single_node()
        return root, loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()


def load_policy_file(file: Path) -> Policy:
    """Parse and validate one policy file; raise PolicyError listing every problem in it."""
    text = read_policy_text(file)
    try:
        root, data = _parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([Problem(str(file), line, "(yaml)", problem)]) from None
    if not isinstance(data, dict):
        raise PolicyError([Problem(str(file), 1, "(top level)", "expected a mapping with version, name, objectives, …")])
    if text_problems := node_problems(root, file):
        raise PolicyError(text_problems)
    dupes = _duplicate_keys(root, file)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(dupes + _messages_for(exc, root, file)) from None
    if dupes:
        raise PolicyError(dupes)
    return policy


def _duplicate_keys(node: yaml.Node | None, file: Path, path: str = "") -> list[Problem]:
    """YAML silently keeps the last of two equal keys; a policy must not."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            where = f"{path}.{key.value}" if path else str(key.value)
            if key.value in seen:
                problems.append(Problem(str(file), key.start_mark.line + 1, where, "duplicate key"))
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
    commands on the others (docs/reliability.md). `problems` holds the broken files' problems."""

    loaded: list[LoadedPolicy]
    problems: list[Problem]


def scan_policies(paths: list[Path]) -> PolicyScan:
    """Load every file; collect every problem of every file (`drkit policy validate` shows both). A
    file whose policy name an earlier file already uses is a problem and is left out."""
    problems: list[Problem] = []
    loaded: list[LoadedPolicy] = []
    try:
        files = policy_files(paths)
    except OSError as exc:  # an unreadable directory
        return PolicyScan([], [Problem(str(exc.filename), 1, "(file)", f"cannot read directory: {exc.strerror}")])
    for file in files:
        if not file.exists():
            problems.append(Problem(str(file), 1, "(file)", "no such file or directory"))
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
            problems.append(Problem(str(item.file), line, "name",
                                    f"policy name '{item.name}' is also used by {seen[item.name]}"))
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


# Models that moved into the module of their kind, still importable from here.
_MOVED = {
    "PathTarget": "drkit.targets.path", "SqliteTarget": "drkit.targets.sqlite",
    "PostgresTarget": "drkit.targets.postgres", "PostgresSource": "drkit.targets.postgres",
    "CommandTarget": "drkit.targets.command", "CommandSource": "drkit.targets.command",
    "FileExistsCheck": "drkit.checks.file_exists", "SqliteCheck": "drkit.checks.sqlite",
    "SqliteCheckSpec": "drkit.checks.sqlite", "PostgresQueryCheck": "drkit.checks.server_query",
    "MysqlTarget": "drkit.targets.mysql", "MysqlSource": "drkit.targets.mysql",
    "MysqlQueryCheck": "drkit.checks.server_query", "MysqlQuerySpec": "drkit.checks.server_query",
    "PostgresQuerySpec": "drkit.checks.server_query", "CommandCheck": "drkit.checks.command",
    "CommandCheckSpec": "drkit.checks.command",
    "WebhookNotify": "drkit.notify.webhook", "HealthcheckNotify": "drkit.notify.healthcheck",
    "EmailNotify": "drkit.notify.email", "EmailSpec": "drkit.notify.email",
}


def __getattr__(name: str) -> Any:
    """Lazy re-exports (PEP 562): the kind modules import this one, so it cannot import them first."""
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
