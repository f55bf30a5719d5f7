"""`drkit doctor`: is everything a policy relies on actually there? One line per check, OK, WARN or
FAIL with the fix, so the real cause of a broken setup is named before a backup fails on it
(docs/recovery.md, "drkit doctor").

Checks run in dependency order per repository: URL syntax -> DNS -> TCP -> TLS (or plain HTTP) ->
credentials and bucket (one signed request) -> the server's clock -> Object Lock and versioning ->
key escrow (WARN without one) -> password source -> the restic repository itself (`restic cat config`). A step that fails marks the
steps that need it SKIP, so one cause is reported once, not as a cascade. Then per policy: the
drill sandbox's free space and the schedule's feasibility; once per host: restic and the state
directory. Nothing is written: no state directory, no catalog, no lock.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from drkit.core import errors
from drkit.core.display import format_size
from drkit.core.durations import format_duration
from drkit.core.errors import Problem
from drkit.core.feasibility import rpo_feasibility
from drkit.core.jsonshape import JsonDocument
from drkit.core.locations import location_problem
from drkit.core.policy import LoadedPolicy, Policy, Repository
from drkit.engines import network
from drkit.engines.catalog import Catalog
from drkit.engines.restic import Restic, installed_version
from drkit.engines.s3 import S3, BucketProbe, parse_location
from drkit.evidence.records import now_utc
from drkit.jobs.drill.sandbox import free_bytes, needed_bytes

Status = Literal["OK", "WARN", "FAIL", "SKIP"]
CLOCK_WARN_S = 60.0      # restic snapshot times and drkit's RPO math drift by this much
CLOCK_FAIL_S = 15 * 60.0  # S3 refuses signatures older than 15 minutes (RequestTimeTooSkewed)


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    message: str
    fix: str | None = None
    repository: str | None = None  # which of the policy's repositories, when it has several

    def line(self) -> str:
        name = f"{self.check} ({self.repository})" if self.repository else self.check
        return f"{self.status:<4}  {name:<14} {self.message}" + (f" — {self.fix}" if self.fix else "")

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "repository": self.repository, "status": self.status, "message": self.message,
                "fix": self.fix}


@dataclass(frozen=True)
class PolicyDiagnosis:
    policy: str
    file: str
    findings: list[Finding]


@dataclass(frozen=True)
class Diagnosis(JsonDocument, schema="drkit.doctor/1"):
    host: list[Finding]
    policies: list[PolicyDiagnosis]
    problems: list[Problem] = field(default_factory=list)  # policy files that did not load

    @property
    def findings(self) -> Iterator[Finding]:
        yield from self.host
        for policy in self.policies:
            yield from policy.findings

    @property
    def exit_code(self) -> int:
        if self.problems:
            return int(errors.ExitCode.USAGE)
        return int(errors.ExitCode.ERROR) if any(f.status == "FAIL" for f in self.findings) else 0

    def json_fields(self) -> dict[str, Any]:
        return {"ok": self.exit_code == 0, "host": [f.as_dict() for f in self.host],
                "policies": [{"policy": p.policy, "file": p.file, "findings": [f.as_dict() for f in p.findings]}
                             for p in self.policies],
                "problems": [p.as_dict() for p in self.problems]}

    def lines(self) -> Iterator[str]:
        yield "host"
        yield from (f"  {f.line()}" for f in self.host)
        for policy in self.policies:
            yield f"{policy.policy} ({policy.file})"
            yield from (f"  {f.line()}" for f in policy.findings)
        for problem in self.problems:
            yield f"FAIL  policy         {problem}"


def diagnose(policies: list[LoadedPolicy], problems: list[Problem], state_dir: Path) -> Diagnosis:
    path = state_dir / "catalog.sqlite"
    catalog = Catalog(path) if path.exists() else None  # doctor creates no state directory
    try:
        host = [restic_check(), state_dir_check(state_dir)]
        return Diagnosis(host, [PolicyDiagnosis(item.name, str(item.file), list(_policy_findings(item.policy, catalog)))
                                for item in policies], problems)
    finally:
        if catalog is not None:
            catalog.close()


def _policy_findings(policy: Policy, catalog: Catalog | None) -> Iterator[Finding]:
    several = len(policy.repositories) > 1
    for repo in policy.repositories:
        yield from _RepositoryDoctor(policy, repo, several).run()
    yield sandbox_check(policy, catalog)
    yield schedule_check(policy, catalog)


# --- host -----------------------------------------------------------------------------------------

def restic_check() -> Finding:
    try:
        version, path = installed_version()
    except errors.DrkitError as exc:
        return Finding("restic", "FAIL", exc.message, exc.hint)
    return Finding("restic", "OK", f"restic {'.'.join(map(str, version))} ({path})")


def state_dir_check(state_dir: Path) -> Finding:
    if not state_dir.exists():
        return Finding("state dir", "OK", f"{state_dir} does not exist yet; the first run creates it (0700)")
    st = state_dir.stat()
    if not os.access(state_dir, os.W_OK | os.X_OK):
        return Finding("state dir", "FAIL", f"{state_dir} is not writable by uid {os.geteuid()}",
                       f"chown -R {os.geteuid()} {state_dir}, or pass --state-dir")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        return Finding("state dir", "WARN", f"{state_dir} is {mode:04o}: other users can read the catalog and the "
                                            "staged dumps", f"chmod 700 {state_dir}")
    return Finding("state dir", "OK", f"{state_dir} ({mode:04o}, writable)")


# --- per policy -----------------------------------------------------------------------------------

def sandbox_check(policy: Policy, catalog: Catalog | None) -> Finding:
    parent = policy.drill.sandbox
    last = catalog.last_record(policy.name, "backup", result=("pass", "partial")) if catalog is not None else None
    free = free_bytes(parent)
    if last is None or not last.bytes:
        return Finding("sandbox space", "OK", f"{format_size(free)} free for drills under {parent} "
                                              "(no backup yet to compare with)")
    need = needed_bytes(last.bytes)
    if free < need:
        return Finding("sandbox space", "FAIL", f"{parent} has {format_size(free)} free; a drill of the last snapshot "
                                                f"({format_size(last.bytes)}) needs {format_size(need)}",
                       "free space, or set drill.sandbox on a larger file system")
    return Finding("sandbox space", "OK", f"{format_size(free)} free under {parent}; the last snapshot needs "
                                          f"{format_size(need)}")


def schedule_check(policy: Policy, catalog: Catalog | None) -> Finding:
    durations = ([r.duration_s for r in catalog.records(policy.name, "backup") if r.result in ("pass", "partial")]
                 if catalog is not None else [])
    feasibility = rpo_feasibility(policy, durations)
    if feasibility.feasible is None:
        return Finding("schedule", "WARN", feasibility.message,
                       "add schedule.backup, or make sure cron or a timer runs drkit backup")
    if not feasibility.feasible:
        return Finding("schedule", "WARN", f"'{policy.schedule.backup.text}' {feasibility.message}",  # type: ignore[union-attr]
                       "back up more often, or agree a longer RPO")
    return Finding("schedule", "OK", f"'{policy.schedule.backup.text}' {feasibility.message}")  # type: ignore[union-attr]


def password_check(policy: Policy, repo: Repository, name: str | None) -> Finding:
    """The policy's password source gives something, and a password file is private."""
    if repo.password_file:
        return _password_file(repo.password_file, name)
    if repo.password_env:
        if not os.environ.get(repo.password_env):
            return Finding("password", "FAIL", f"environment variable {repo.password_env} is not set",
                           f"set {repo.password_env} in drkit's environment (/etc/drkit/env for the daemon)", name)
        return Finding("password", "OK", f"from environment variable {repo.password_env}", repository=name)
    return _password_command(repo.password_command or [], name, policy.repository_field("password_command", repo.name))


def _password_file(path: Path, name: str | None) -> Finding:
    try:
        st = path.stat()
        size = len(path.read_bytes().strip())
    except FileNotFoundError:
        return Finding("password", "FAIL", f"password file {path} does not exist",
                       "restore it from the copy kept off-host (without it the repository cannot be read)", name)
    except OSError as exc:
        return Finding("password", "FAIL", f"password file {path} cannot be read ({exc.strerror})",
                       f"run drkit as its owner, or chown it to uid {os.geteuid()}", name)
    if not size:
        return Finding("password", "FAIL", f"password file {path} is empty", "restore it from the off-host copy", name)
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        return Finding("password", "WARN", f"password file {path} is {mode:04o}: other users can read the "
                                           "repository password", f"chmod 600 {path}", name)
    return Finding("password", "OK", f"password file {path} ({mode:04o})", repository=name)


def _password_command(argv: list[str], name: str | None, field: str = "repository.password_command") -> Finding:
    from drkit.engines import process

    try:
        done = process.run(argv, timeout=30)
    except process.ProcessError as exc:
        return Finding("password", "FAIL", f"password command: {exc}", f"fix {field}", name)
    if not done.ok:
        return Finding("password", "FAIL", f"password command {argv[0]} {done.status()}: {done.last_line()}",
                       f"fix {field}", name)
    if not done.stdout.strip():
        return Finding("password", "FAIL", f"password command {argv[0]} printed nothing",
                       f"fix {field}", name)
    return Finding("password", "OK", f"password command {argv[0]} printed a password", repository=name)


# --- per repository -------------------------------------------------------------------------------

class _RepositoryDoctor:
    """The checks of one repository, each skipped when a step it needs has failed."""

    def __init__(self, policy: Policy, repo: Repository, several: bool):
        self.policy = policy
        self.repo = repo
        self.name = repo.name if several else None
        self.blocked: str | None = None  # the check that failed, for the SKIP lines after it
        self.probe: BucketProbe | None = None
        self.s3: S3 | None = None

    def run(self) -> Iterator[Finding]:
        steps: list[Callable[[], Finding | None]] = [self.url, self.dns, self.tcp, self.transport, self.credentials,
                                                     self.bucket, self.clock, self.object_lock, self.key_escrow]
        for step in steps:
            finding = self._skip(step.__name__.replace("_", " ")) if self.blocked else step()
            if finding is not None:
                yield finding
                self._note(finding)
        password = password_check(self.policy, self.repo, self.name)
        yield password
        if password.status == "FAIL" and not self.blocked:
            self.blocked = "password"
        yield self._skip("repository") if self.blocked else self.repository()

    def _note(self, finding: Finding) -> None:
        if finding.status == "FAIL" and finding.check not in ("clock", "object lock"):
            self.blocked = finding.check

    def _skip(self, check: str) -> Finding | None:
        if self.location is None and check != "repository":
            return None  # a local repository (or a URL without a bucket) has no network to check
        shown = {"transport": "tls" if self._scheme() == "https" else "http"}.get(check, check)
        return Finding(shown, "SKIP", f"needs {self.blocked}", repository=self.name)

    def _finding(self, check: str, status: Status, message: str, fix: str | None = None) -> Finding:
        return Finding(check, status, message, fix, self.name)

    def _field(self, key: str) -> str:
        """The repository's `key` as the policy file spells it (docs/repositories.md)."""
        return self.policy.repository_field(key, self.repo.name)

    @property
    def location(self):
        try:
            return parse_location(self.repo)
        except errors.DrkitError:
            return None

    # --- the steps ---

    def url(self) -> Finding:
        problem = location_problem(self.repo.url)
        if problem is None and self.repo.url.startswith("s3:") and self.location is None:
            problem = f"'{self.repo.url}' names no bucket"
        if problem:
            return self._finding("url", "FAIL", problem, f"fix {self._field('url')}")
        return self._finding("url", "OK", self.repo.url)

    def dns(self) -> Finding | None:
        if (at := self._endpoint()) is None:
            return None
        reached = network.resolve(*at)
        return self._finding("dns", "OK" if reached.ok else "FAIL", reached.detail,
                             None if reached.ok else f"check the host name in {self._field('url')}")

    def tcp(self) -> Finding | None:
        if (at := self._endpoint()) is None:
            return None
        reached = network.connect(*at)
        return self._finding("tcp", "OK" if reached.ok else "FAIL", reached.detail,
                             None if reached.ok else f"check the port in {self._field('url')} and that the S3 server runs")

    def transport(self) -> Finding | None:
        if (at := self._endpoint()) is None:
            return None
        host, port = at
        if self._scheme() == "https":
            reached = network.tls_handshake(host, port)
            fix = (f"use s3:http://{host}:{port}/… if the server has no TLS, or its TLS port"
                   if "does not speak TLS" in reached.detail or "plain-HTTP" in reached.detail
                   else f"install the CA that signed the certificate, or fix the host name in {self._field('url')}")
            return self._finding("tls", "OK" if reached.ok else "FAIL", reached.detail, None if reached.ok else fix)
        reached = network.speaks_http(host, port)
        fix = f"use s3:https://{host}:{port}/…" if "speaks TLS" in reached.detail else f"check the port in {self._field('url')}"
        return self._finding("http", "OK" if reached.ok else "FAIL", reached.detail, None if reached.ok else fix)

    def credentials(self) -> Finding | None:
        if self.location is None:
            return None
        self.s3 = S3(self.repo)
        try:
            env = self.s3.credentials_env()
        except errors.DrkitError as exc:
            return self._finding("credentials", "FAIL", exc.message, exc.hint or "set AWS credentials")
        self.probe = self.s3.probe()
        key = _masked(env["AWS_ACCESS_KEY_ID"])
        code = self.probe.code
        if not self.probe.answered:
            return self._finding("credentials", "FAIL", f"no answer to a signed request: {self.probe.message}",
                                 f"check the endpoint in {self._field('url')}")
        if code == "InvalidAccessKeyId":
            return self._finding("credentials", "FAIL", f"the S3 server does not know access key {key}",
                                 f"check AWS_ACCESS_KEY_ID or {self._field('aws_profile')}")
        if code == "SignatureDoesNotMatch":
            return self._finding("credentials", "FAIL", f"the secret key does not belong to access key {key}",
                                 f"check AWS_SECRET_ACCESS_KEY or {self._field('aws_profile')}")
        if code == "RequestTimeTooSkewed":
            return self._finding("credentials", "FAIL", "the server refused the request: this host's clock is off",
                                 "set the clock (timedatectl set-ntp true)")
        return self._finding("credentials", "OK", f"access key {key} accepted (a signed request)")

    def bucket(self) -> Finding | None:
        if self.probe is None or self.location is None:
            return None
        code, bucket = self.probe.code, self.location.bucket
        style = "virtual-host" if self.location.is_aws else "path-style"
        if code is None:
            return self._finding("bucket", "OK", f"bucket '{bucket}' answers ({style} addressing)")
        if code == "NoSuchBucket":
            return self._finding("bucket", "FAIL", f"bucket '{bucket}' does not exist on {self.location.endpoint}",
                                 f"run: drkit repo init {self.policy.name} (or fix the bucket in {self._field('url')})")
        if code in ("AccessDenied", "AllAccessDisabled", "403"):
            return self._finding("bucket", "FAIL", f"the credentials may not list bucket '{bucket}' ({code})",
                                 "allow s3:ListBucket, GetObject, PutObject and DeleteObject on it")
        if self.probe.region and self.probe.region != self.location.region:
            return self._finding("bucket", "FAIL", f"bucket '{bucket}' is in region {self.probe.region}, not "
                                                   f"{self.location.region}", f"set repository.region: {self.probe.region}")
        return self._finding("bucket", "FAIL", f"S3 answered {code}: {self.probe.message}")

    def clock(self) -> Finding | None:
        if self.probe is None:
            return None
        if self.probe.server_time is None:
            return self._finding("clock", "SKIP", "the S3 server sent no Date header")
        skew = (now_utc() - self.probe.server_time).total_seconds()
        text = f"this host's clock is {format_duration(abs(skew))} {'ahead of' if skew > 0 else 'behind'} the S3 server's"
        if abs(skew) >= CLOCK_FAIL_S:
            return self._finding("clock", "FAIL", text, "set the clock (timedatectl set-ntp true)")
        if abs(skew) >= CLOCK_WARN_S:
            return self._finding("clock", "WARN", text, "set the clock (timedatectl set-ntp true)")
        return self._finding("clock", "OK", f"within {format_duration(max(abs(skew), 1))} of the S3 server's")

    def object_lock(self) -> Finding | None:
        if self.s3 is None:
            return None
        try:
            state = self.s3.state()
        except errors.DrkitError as exc:
            return self._finding("object lock", "WARN", f"cannot read the bucket's protection: {exc.message}")
        lock = f"Object Lock {state.default_retention or 'on'}" if state.object_lock else "no Object Lock"
        text = f"versioning {state.versioning}, {lock}"
        wants = self.repo.require_object_lock or self.repo.lock_days
        if wants and not state.object_lock:
            key = "require_object_lock" if self.repo.require_object_lock else "lock_days"
            return self._finding("object lock", "FAIL", f"{text}, but the policy sets {self._field(key)}",
                                 f"point {self._field('url')} at a bucket created with Object Lock (drkit repo init does)")
        return self._finding("object lock", "OK", text + ("" if wants else " (the policy requires none)"))

    def key_escrow(self) -> Finding | None:
        """Is the repository password escrowed in the bucket (`drkit keys escrow`)? Without it the
        password lives only where this host keeps it: a WARN, since backups still work."""
        if self.s3 is None:
            return None
        key = self.s3.escrow_key(self.policy.name, self.repo.name)
        try:
            found = self.s3.object_exists(key)
        except errors.DrkitError as exc:
            return self._finding("key escrow", "WARN", f"cannot check for the escrowed password: {exc.message}")
        if not found:
            return self._finding("key escrow", "WARN", f"no escrowed password at s3://{self.s3.location.bucket}/{key}: "
                                 "losing this host's password source loses the backups",
                                 f"drkit keys escrow {self.policy.name} --recipient age1… (docs/security.md)")
        return self._finding("key escrow", "OK", f"password escrowed at s3://{self.s3.location.bucket}/{key}")

    def repository(self) -> Finding:
        restic = Restic(self.repo, credentials=self.s3.credentials_env() if self.s3 else {}, policy=self.policy.name)
        try:
            config = restic.config()
        except errors.WrongPassword:
            return self._finding("repository", "FAIL", "the repository does not accept the password",
                                 "use the password the repository was created with (from the off-host copy)")
        except errors.NoRepository:
            return self._finding("repository", "FAIL", f"no restic repository at {self.repo.url}",
                                 f"run: drkit repo init {self.policy.name}")
        except errors.DrkitError as exc:
            return self._finding("repository", "FAIL", exc.message, exc.hint)
        return self._finding("repository", "OK", f"restic repository {str(config.get('id', ''))[:8]} opens with the "
                                                 f"password (format version {config.get('version', '?')})")

    # --- where ---

    def _scheme(self) -> str:
        return "http" if self.repo.url.startswith("s3:http://") else "https"

    def _endpoint(self) -> tuple[str, int] | None:
        location = self.location
        if location is None:
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(location.endpoint)
        return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _masked(key: str) -> str:
    """An access key id shown enough to recognise it (it is not the secret, but need not be whole)."""
    return f"{key[:4]}…{key[-2:]}" if len(key) > 8 else "…"

