"""Secret hygiene (issue 12, point 6; docs/security.md "Secrets on this host"): no repository
password, S3 secret key or database password on any command line of drkit or its children, and
none in logs (-vv), evidence, reports, runbooks, units, crontabs or error messages.

One installation per module (a path target and a PostgreSQL target on the session's servers,
every secret random so no other test's process can match); each command of `COMMANDS` runs as
the real CLI while a sampler reads /proc/*/cmdline of its process tree every few milliseconds.
A new job command is one more row.
"""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from factories import Env, make_env, make_tree
from process_watch import ArgvWatch

NAME = "vault"


@dataclass
class Installation:
    env: Env
    db: str
    db_password: str
    copy_password_file: Path
    identity: Path
    recipient: str

    @property
    def password(self) -> str:
        return self.env.password_file.read_text().strip()

    @property
    def secrets(self) -> dict[str, str]:
        return {"repository password": self.password, "S3 secret key": self.env.s3_env["AWS_SECRET_ACCESS_KEY"],
                "database password": self.db_password,
                "copy repository password": self.copy_password_file.read_text().strip()}

    def fresh(self, what: str) -> Path:
        """A path no earlier command used (restore targets, recovered password files)."""
        return self.env.root / f"{what}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory, seaweedfs, postgres_server) -> Iterator[Installation]:
    import pyrage

    root = tmp_path_factory.mktemp("hygiene")
    bucket = f"t-{uuid.uuid4().hex[:8]}"
    seaweedfs.start()
    seaweedfs.client().create_bucket(Bucket=bucket)
    env = make_env(root, seaweedfs, bucket)
    env.password_file.write_text(f"repo-{secrets.token_hex(16)}\n")
    db = postgres_server.create_database(rows=50)
    db_password_file = root / "db-password"
    db_password_file.write_text(postgres_server.password + "\n")
    db_password_file.chmod(0o600)
    copy_password_file = root / "copy-password"
    copy_password_file.write_text(f"copy-{secrets.token_hex(16)}\n")
    copy_password_file.chmod(0o600)
    repository = f"s3:{env.endpoint}/{env.bucket}/{NAME}"
    env.write_policy(NAME, repository=None,
                     repositories=[{"url": repository, "password_file": str(env.password_file)},
                                   {"name": "offsite", "url": f"{repository}-copy",
                                    "password_file": str(copy_password_file)}], targets=[{"path": str(make_tree(root / "src"))},
                                    {"postgres": {"dsn": postgres_server.dsn(), "databases": [db],
                                                  "password_file": str(db_password_file)}}],
                     drill={"sandbox": str(root / "drills")},
                     schedule={"backup": "every day at 01:30", "drill": "every day at 04:00"},
                     retention={"keep_last": 10})
    env.drkit("repo", "init", NAME, check=0)
    env.drkit("backup", NAME, check=0)
    identity = pyrage.x25519.Identity.generate()
    (root / "recovery.key").write_text(f"{identity}\n")
    yield Installation(env, db, postgres_server.password, copy_password_file, root / "recovery.key", str(identity.to_public()))


@dataclass(frozen=True)
class Command:
    """One drkit command whose process tree is sampled: its argv, and programs it must be seen
    starting (so a sampler that saw nothing cannot pass)."""

    name: str
    argv: Callable[[Installation], list[str]]
    programs: frozenset[str] = frozenset()


COMMANDS = [
    Command("backup", lambda i: ["backup", NAME], frozenset({"restic", "pg_dump"})),
    Command("copy", lambda i: ["copy", NAME], frozenset({"restic"})),
    Command("restore-drill", lambda i: ["restore-drill", NAME], frozenset({"restic", "pg_restore"})),
    Command("restore", lambda i: ["restore", NAME, "--target", str(i.fresh("restored"))], frozenset({"restic"})),
    Command("forget", lambda i: ["forget", NAME], frozenset({"restic"})),
    Command("repo check", lambda i: ["repo", "check", NAME], frozenset({"restic"})),
    Command("snapshots", lambda i: ["snapshots", NAME], frozenset({"restic"})),
    Command("doctor", lambda i: ["doctor", NAME], frozenset({"restic"})),
    Command("catalog rebuild", lambda i: ["catalog", "rebuild", NAME], frozenset({"restic"})),
    Command("keys escrow", lambda i: ["keys", "escrow", NAME, "--recipient", i.recipient]),
    Command("keys recover", lambda i: ["keys", "recover", NAME, "--identity", str(i.identity),
                                       "--to", str(i.fresh("recovered"))]),
]


def run_watched(installation: Installation, argv: list[str]) -> tuple[subprocess.CompletedProcess, ArgvWatch]:
    env = installation.env
    with ArgvWatch(list(installation.secrets.values()), tree=True) as watch:
        proc = subprocess.Popen(env.drkit_argv(*argv), env=env.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        watch.watch(proc.pid)
        out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), watch


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_no_secret_on_any_command_line(installation: Installation, command: Command):
    # keys escrow must have run before keys recover can find anything: escrow now (unsampled) if not yet
    if command.name == "keys recover":
        installation.env.drkit("keys", "escrow", NAME, "--recipient", installation.recipient, check=0)
    done, watch = run_watched(installation, command.argv(installation))
    assert done.returncode == 0, f"{command.name}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert watch.leaks == [], f"{command.name}: a secret on a command line: {watch.leaks}"
    assert "python" in "".join(watch.seen) and command.programs <= watch.seen, \
        f"{command.name}: the sampler did not see {sorted(command.programs - watch.seen)} (saw {sorted(watch.seen)})"
    leaked = [what for what, value in installation.secrets.items() if value in done.stdout + done.stderr]
    assert leaked == [], f"{command.name} printed the {leaked}"


# --- what drkit writes and prints ---------------------------------------------------------------

def artefact_commands(out: Path) -> list[list[str]]:
    """Every command that writes or prints something a person or a program reads later."""
    return [
        ["-vv", "backup", NAME], ["-vv", "copy", NAME], ["-vv", "restore-drill", NAME], ["-vv", "status"], ["-vv", "status", "--json"],
        ["-vv", "report", "--format", "json", "-o", str(out / "report.json")],
        ["-vv", "report", "--format", "html", "-o", str(out / "report.html")],
        ["-vv", "report", "--format", "csv", "-o", str(out / "report.csv")],
        ["-vv", "report", "--refresh"],
        ["-vv", "runbook", NAME, "-o", str(out / "runbook.md")],
        ["-vv", "runbook", "--all", "--format", "html", "-o", str(out / "plan.html")],
        ["-vv", "scheduler", "install", "--systemd", "-o", str(out / "systemd")],
        ["-vv", "scheduler", "install", "--cron", "-o", str(out / "cron")],
        ["-vv", "evidence", "verify", "--remote"], ["-vv", "policy", "explain", NAME, "--json"],
        ["-vv", "doctor", NAME, "--json"], ["-vv", "snapshots", NAME, "--json"],
    ]


def test_no_secret_in_logs_evidence_reports_runbooks_units_or_errors(installation: Installation):
    env = installation.env
    out = installation.fresh("artefacts")
    out.mkdir()
    secret_values = installation.secrets
    printed = []
    for argv in artefact_commands(out):
        done = env.drkit(*argv)
        assert done.returncode in (0, 3), f"{argv}: exit {done.returncode}\n{done.stderr}"
        printed.append((" ".join(argv), done.stdout + done.stderr))

    # errors: a wrong repository password, a wrong S3 secret key, a wrong database password
    good = env.password_file.read_text()
    wrong_password = f"wrong-{secrets.token_hex(8)}"
    env.password_file.write_text(wrong_password + "\n")
    try:
        for argv in (["-vv", "snapshots", NAME], ["-vv", "restore-drill", NAME], ["-vv", "doctor", NAME]):
            done = env.drkit(*argv)
            assert done.returncode != 0
            printed.append((f"{' '.join(argv)} (wrong password)", done.stdout + done.stderr))
    finally:
        env.password_file.write_text(good)
    secret_values = {**secret_values, "wrong repository password": wrong_password}
    wrong_secret = f"bad-{secrets.token_hex(12)}"
    for argv in (["-vv", "backup", NAME], ["-vv", "doctor", NAME]):
        done = env.drkit(*argv, env=env.env(AWS_SECRET_ACCESS_KEY=wrong_secret))
        assert done.returncode != 0
        printed.append((f"{' '.join(argv)} (wrong S3 secret)", done.stdout + done.stderr))
    secret_values["wrong S3 secret key"] = wrong_secret

    written = [p for p in (*out.rglob("*"), *env.state.rglob("*")) if p.is_file()]
    assert {"report.json", "report.html", "report.csv", "runbook.md", "plan.html", "catalog.sqlite"} <= \
        {p.name for p in written}
    client = env_client(env)
    uploaded = [(k, client.get_object(Bucket=env.bucket, Key=k)["Body"].read())
                for k in keys_under(client, env.bucket, "drkit-evidence/")]
    assert any("/vault/" in key for key, _ in uploaded)

    leaks = [f"{what} in output of drkit {where}" for where, text in printed
             for what, value in secret_values.items() if value in text]
    leaks += [f"{what} in {path}" for path in written for what, value in secret_values.items()
              if value.encode() in path.read_bytes()]
    leaks += [f"{what} in s3://{env.bucket}/{key}" for key, body in uploaded for what, value in secret_values.items()
              if value.encode() in body]
    assert leaks == []


def env_client(env: Env):
    import boto3

    return boto3.client("s3", endpoint_url=env.endpoint, aws_access_key_id=env.s3_env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env.s3_env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")


def keys_under(client, bucket: str, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def test_the_sampler_sees_a_secret_deep_in_the_tree_and_nothing_outside_it():
    """The watch above would miss nothing it is meant to see: a grandchild in a session of its
    own carrying the secret is caught; the same secret in a process outside the tree is not."""
    secret = f"canary-{secrets.token_hex(8)}"
    outside = subprocess.Popen(["sh", "-c", "sleep 1", secret])
    try:
        with ArgvWatch([secret], tree=True) as watch:
            proc = subprocess.Popen(["setsid", "sh", "-c", 'sh -c "sleep 0.5" "$0"', secret])
            watch.watch(proc.pid)
            proc.wait(timeout=30)
    finally:
        outside.wait(timeout=30)
    assert watch.leaks and all(secret in leak for leak in watch.leaks)
    assert watch.samples > 10 and not any("sleep 1 " in leak for leak in watch.leaks)
