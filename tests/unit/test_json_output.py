"""Every read command's `--json` document: its schema id, its fields, and docs/json.md describing
exactly those fields (docs that cannot drift). Commands run in-process on a real catalog; the
shapes whose commands need a repository (snapshots, repo init, catalog rebuild) are built from
their result types here and run for real in tests/integration."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from report_builders import History

import drkit
from drkit.cli import cli
from drkit.cli.policy import Whereabouts
from drkit.core import errors, jsonshape
from drkit.core.discovery import Chosen
from drkit.core.errors import PolicyError, Problem
from drkit.core.outcome import RunStatus
from drkit.core.policy import load_policies
from drkit.engines.restic import Node, Snapshot
from drkit.evidence.records import Record, now_utc
from drkit.jobs.lifecycle import RunList, RunOutcome
from drkit.jobs.rebuild import CatalogRebuild, RefreshResult, SnapshotListing
from drkit.jobs.repo_check import CheckDetail, Subset
from drkit.jobs.repo_init import InitResult
from drkit.views.browse import SnapshotFiles
from drkit.views.doctor import Diagnosis, Finding, PolicyDiagnosis
from drkit.views.iam_policy import IamPolicy
from drkit.views.immutability import AuditResult, Control

ROOT = Path(__file__).parents[2]
JSON_DOC = ROOT / "docs" / "json.md"

POLICY = """\
version: 1
name: {name}
business: {{tier: 1, owner: Jane <jane@example.com>}}
objectives: {{rpo: {rpo}, rto: 4h, in_force_from: 2026-01-01}}
targets: [{{path: /srv/data}}]
schedule: {{backup: every day at 01:30, drill: every sunday at 04:00}}
repository: {{url: "s3:http://127.0.0.1:9/bucket/{name}", password_file: /etc/pw}}
"""


class Site:
    """A policies directory and a state directory whose catalog holds signed records."""

    def __init__(self, root: Path):
        self.policies = root / "policies"
        self.policies.mkdir()
        self.state = root / "state"
        (self.policies / "db.yaml").write_text(POLICY.format(name="db", rpo="25h"))
        self.history = History(self.state)
        now = now_utc()
        self.snapshot_id = self.history.backup(now - timedelta(hours=2), now - timedelta(hours=1))
        self.history.drill(now - timedelta(minutes=30), 0.1)
        self.history.list()

    def run(self, *args: str, code: int = 0):
        result = CliRunner().invoke(cli, ["--policies", str(self.policies), "--state-dir", str(self.state), *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code == code, (result.exit_code, result.output)
        return result

    def document(self, *args: str, code: int = 0) -> dict:
        return json.loads(self.run(*args, code=code).stdout)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    return Site(tmp_path_factory.mktemp("site"))


# --- the registry ---------------------------------------------------------------------------------

def import_every_module() -> None:
    for module in pkgutil.walk_packages(drkit.__path__, "drkit."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def test_every_declared_shape_has_one_result_type():
    import_every_module()
    for shape in jsonshape.SHAPES:
        assert re.fullmatch(r"drkit\.[a-z][a-z-]*/\d+", shape.schema), shape.schema
        bound = jsonshape.result_type(shape.schema)
        assert bound is not None and bound.schema_id == shape.schema, f"no result type for {shape.schema}"


def test_an_undeclared_schema_id_is_refused_at_import():
    with pytest.raises(TypeError, match="not declared"):
        class Stray(jsonshape.JsonDocument, schema="drkit.stray/1"):
            pass


def test_a_second_type_for_one_schema_id_is_refused():
    with pytest.raises(TypeError, match="already belongs to"):
        class Impostor(jsonshape.JsonDocument, schema="drkit.status/1"):
            pass


def json_commands() -> set[str]:
    """Every command that prints JSON on request: a --json flag, or `--format json`."""
    found = set()

    def walk(command: click.Command, words: tuple[str, ...]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, words + (name,))
            return
        for param in command.params:
            choices = getattr(param.type, "choices", ())
            if "--json" in param.opts or ("--format" in param.opts and "json" in choices):
                found.add(" ".join(words))

    walk(cli, ())
    return found


def commands_of(shape: jsonshape.Shape) -> set[str]:
    """`drkit forget NAME --json, drkit repo check NAME --json` -> {"forget", "repo check"}"""
    return {" ".join(w for w in line.split()[1:] if w.islower() and not w.startswith("-") and w != "json"
                     and not w.endswith("..."))
            for line in shape.command.split(", ")}


def test_every_command_with_json_output_prints_a_declared_shape():
    declared = set().union(*(commands_of(s) for s in jsonshape.SHAPES))
    assert json_commands() == declared


# --- each shape, printed by its command ------------------------------------------------------------

def test_status(site):
    data = site.document("status", "--json")
    assert list(data)[:1] == ["schema"] and data["schema"] == "drkit.status/1"
    [row] = data["policies"]
    assert row["policy"] == "db" and row["verdict"] == "OK" and row["last_snapshot_id"] == site.snapshot_id
    assert row["last_drill_result"] == "pass" and data["generated_at"].endswith("Z")


def test_scheduler_plan(site):
    data = site.document("scheduler", "plan", "--days", "8", "--json")
    assert data["schema"] == "drkit.scheduler-plan/1" and data["days"] == 8.0
    assert data["source"] == "a scheduler started now"
    assert [(j["policy"], j["job"]) for j in data["jobs"]] == [("db", "backup"), ("db", "drill")]
    assert len(data["jobs"][0]["runs"]) == data["jobs"][0]["total"] >= 7


def test_policy_explain(site):
    data = site.document("policy", "explain", "db", "--json")
    assert data["schema"] == "drkit.policy-explanation/1" and data["file"] == str(site.policies / "db.yaml")
    assert data["policy"]["name"] == "db" and data["policy"]["objectives"] == {
        "rpo": 90000.0, "rto": 14400.0, "in_force_from": "2026-01-01T00:00:00Z", "accept_partial": False}
    assert data["rpo_feasibility"]["feasible"] is True and data["rpo_feasibility"]["interval_s"] == 86400.0


def test_report_json(site):
    until = now_utc()
    since = until - timedelta(days=3)
    data = site.document("report", "--format", "json", "--since", since.isoformat(), "--until", until.isoformat())
    assert list(data)[:1] == ["schema"] and data["schema"] == "drkit.report/1"
    [policy] = data["policies"]
    assert policy["name"] == "db" and policy["rpo"]["breach_windows"]  # nothing restorable before the backup


def test_evidence_verify(site):
    data = site.document("evidence", "verify", "--json", code=4)  # History's records do not chain
    assert data["schema"] == "drkit.evidence-verification/1"
    assert data["ok"] is False and data["records"] == 2 and data["policies"] == 1 and data["problems"]


def test_policy_validate_lists_the_valid_files(site):
    data = site.document("policy", "validate", "--json")
    assert data == {"schema": "drkit.policy-validation/1", "ok": True, "strict": False,
                    "policies": [{"file": str(site.policies / "db.yaml"), "name": "db"}],
                    "problems": [], "warnings": []}


def test_policy_validate_gives_each_problem_as_fields_and_exits_2(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(POLICY.format(name="good", rpo="25h"))
    bad.write_text(POLICY.format(name="bad", rpo="25h").replace("targets:", "target:"))
    data = json.loads(CliRunner().invoke(cli, ["policy", "validate", str(tmp_path), "--json"]).stdout)
    assert data["ok"] is False and data["policies"] == [{"file": str(good), "name": "good"}]
    assert {"file": str(bad), "line": 5, "path": "target",
            "message": "unknown key 'target' (check the spelling; see `drkit policy schema`)"} in data["problems"]
    with pytest.raises(PolicyError) as exc:
        load_policies([tmp_path])
    # the same problems, and each one's text form is the line the text command prints
    assert [str(Problem(**p)) for p in data["problems"]] == [str(p) for p in exc.value.problems]
    result = CliRunner().invoke(cli, ["policy", "validate", str(tmp_path), "--json"])
    assert result.exit_code == 2 and result.stderr == ""


def test_policy_validate_warnings_are_errors_with_strict(tmp_path):
    (tmp_path / "tight.yaml").write_text(POLICY.format(name="tight", rpo="1h"))
    runner = CliRunner()
    base = ["--state-dir", str(tmp_path / "state"), "policy", "validate", str(tmp_path), "--json"]
    warned = runner.invoke(cli, base)
    data = json.loads(warned.stdout)
    assert warned.exit_code == 0 and data["ok"] is True and data["problems"] == []
    [warning] = data["warnings"]
    assert warning["file"] == str(tmp_path / "tight.yaml") and warning["policy"] == "tight"
    assert warning["path"] == "schedule.backup" and warning["message"].startswith("'every day at 01:30' CANNOT meet")
    strict = runner.invoke(cli, [*base, "--strict"])
    assert strict.exit_code == 2 and json.loads(strict.stdout)["ok"] is False
    assert not (tmp_path / "state").exists()  # validating creates no state directory


# --- shapes of the commands that need a repository ---------------------------------------------------

SNAPSHOT = Snapshot(id="ab" * 32, short_id="abababab", time=now_utc(), paths=["/srv/data"], hostname="h",
                    tags=["drkit", "drkit-policy=db"])


def test_snapshot_listing():
    data = SnapshotListing("db", [SNAPSHOT]).to_json()
    assert data["schema"] == "drkit.snapshots/1" and data["policy"] == "db"
    assert data["snapshots"][0]["id"] == "ab" * 32 and data["snapshots"][0]["tags"] == ["drkit", "drkit-policy=db"]


FILES = SnapshotFiles("db", SNAPSHOT, "/srv/data", [
    Node("/srv/data", "dir", 0, "2026-11-23T12:00:00.123456789+01:00"),
    Node("/srv/data/a.txt", "file", 12, "2026-11-23T12:00:00Z")])


def test_snapshot_files():
    data = FILES.to_json()
    assert data["schema"] == "drkit.snapshot-files/1" and data["files"] == 1 and data["bytes"] == 12
    assert data["entries"][0] == {"path": "/srv/data", "type": "dir", "size": None,
                                  "mtime": "2026-11-23T11:00:00.123456Z"}
    assert list(FILES.lines())[1:] == ["           2026-11-23 11:00:00  /srv/data/",
                                       "     12 B  2026-11-23 12:00:00    a.txt"]


DIAGNOSIS = Diagnosis([Finding("restic", "OK", "restic 0.14.0")],
                      [PolicyDiagnosis("db", "/p/db.yaml", [Finding("tcp", "FAIL", "refused", "check the port", "primary")])],
                      [Problem("/p/x.yaml", 3, "repository.url", "unknown scheme 'htp'")])


def test_doctor():
    data = DIAGNOSIS.to_json()
    assert data["schema"] == "drkit.doctor/1" and data["ok"] is False and DIAGNOSIS.exit_code == 2
    assert data["policies"][0]["findings"][0] == {"check": "tcp", "repository": "primary", "status": "FAIL",
                                                  "message": "refused", "fix": "check the port"}


def test_catalog_rebuild():
    from drkit.core.errors import Unreachable

    data = CatalogRebuild([RefreshResult("db", snapshots=3, objects=4, added=2, keys=1, problems=["k: bad"]),
                           RefreshResult("web", error=Unreachable("S3 unreachable"))]).to_json()
    assert data["schema"] == "drkit.catalog-rebuild/1"
    assert data["policies"][0] == {"policy": "db", "snapshots": 3, "evidence_objects": 4, "records_added": 2,
                                   "keys": 1, "problems": ["k: bad"], "error": None}
    assert data["policies"][1]["error"] == "S3 unreachable"


def test_repo_init():
    result = InitResult("db", "s3:http://h/b/db", "b", bucket_created=True, versioning="Enabled", object_lock=False,
                        require_object_lock=True, notes=["warning: x"])
    data = result.to_json()
    assert data["schema"] == "drkit.repo-init/1" and data["object_lock_missing"] is True and data["bucket"] == "b"


# --- docs/json.md ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def documents(site, tmp_path_factory) -> dict[str, dict]:
    """One document of every shape, with every list non-empty so every field shows."""
    until = now_utc()
    warned = tmp_path_factory.mktemp("warned")
    (warned / "tight.yaml").write_text(POLICY.format(name="tight", rpo="1h"))
    (warned / "broken.yaml").write_text("version: 1\nname: broken\n")
    docs = [
        site.document("status", "--json"),
        site.document("scheduler", "plan", "--json"),
        site.document("policy", "explain", "db", "--json"),
        site.document("report", "--format", "json", "--since", (until - timedelta(days=3)).isoformat(),
                      "--until", until.isoformat()),
        site.document("evidence", "verify", "--json", code=4),
        site.document("policy", "validate", str(site.policies), str(warned), "--json", code=2),
        SnapshotListing("db", [SNAPSHOT]).to_json(),
        FILES.to_json(),
        DIAGNOSIS.to_json(),
        Whereabouts(Chosen(Path("/p"), "given with --policies", [Path("/x")]),
                    Chosen(Path("/s"), "set by DRKIT_STATE_DIR", [Path("/y")])).to_json(),
        CatalogRebuild([RefreshResult("db", problems=["k: bad"])]).to_json(),
        InitResult("db", "s3:http://h/b/db", "b", notes=["n"]).to_json(),
        RUN.to_json(),
        RunList((RUN,)).to_json(),
        AuditResult("db", "primary", "b", "db", [Control("versioning", "OK", True, "Enabled")]).to_json(),
        IamPolicy("db", "audit", ["primary"], {"Version": "2012-10-17", "Statement": []}, ["n"]).to_json(),
    ]
    return {d["schema"]: d for d in docs}


RUN = RunOutcome("db", "check", RunStatus.FAILED, errors.RepositoryDamaged("pack damaged"),
                 Record(kind="check", policy="db", started_at=now_utc(), finished_at=now_utc(), result="fail"),
                 now_utc(), now_utc(), CheckDetail(Subset("3/12", 3, 12), ["pack damaged"]), ("a warning",))


def key_paths(value, prefix: str = "") -> set[str]:
    """`a.b` for keys, `a[].b` for keys of the objects in a list."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths |= {path} | key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            paths |= key_paths(item, prefix + "[]")
    return paths


def documented(schema: str) -> tuple[str, dict[str, str]]:
    """The section of docs/json.md headed with the schema id, and its table: field path -> type.
    A field typed "same as `other`" has the fields of `other` (listed once)."""
    sections = re.split(r"^## ", JSON_DOC.read_text(), flags=re.M)
    [section] = [s for s in sections if s.startswith(f"`{schema}`")] or [""]
    fields = dict(re.findall(r"^\| `([^`]+)` \| ((?:\\\||[^|])+?) \|", section, re.M))  # types may hold \|
    for path, kind in list(fields.items()):
        if same := re.fullmatch(r"same as `([^`]+)`", kind):
            fields.update({path + sub[len(same[1]):]: k for sub, k in fields.items()
                           if sub.startswith(same[1] + ".") or sub.startswith(same[1] + "[]")})
    return section, fields


def test_docs_have_a_section_per_declared_shape_and_no_other():
    text = JSON_DOC.read_text()
    assert set(re.findall(r"^## `(drkit\.[^`]+)`", text, re.M)) == {s.schema for s in jsonshape.SHAPES}
    for shape in jsonshape.SHAPES:
        assert f"| `{shape.schema}` | `{shape.command}` |" in text, f"docs/json.md index: {shape.schema}"


@pytest.mark.parametrize("shape", jsonshape.SHAPES, ids=lambda s: s.schema)
def test_docs_list_exactly_the_fields_of_each_shape(documents, shape):
    section, fields = documented(shape.schema)
    assert f"`{shape.command}`" in section, f"docs/json.md: say which command prints {shape.schema}"
    maps = [path for path, kind in fields.items() if kind.startswith("map")]  # keys vary: not listed
    printed = {p for p in key_paths(documents[shape.schema])
               if not any(p.startswith(m + ".") or p.startswith(m + "[]") for m in maps)}
    assert printed - set(fields) == set(), f"docs/json.md {shape.schema}: document these fields"
    assert set(fields) - printed == set(), f"docs/json.md {shape.schema}: these fields are not printed"


def test_docs_describe_the_detail_of_every_job_kind():
    from drkit.jobs.drill.run import DrillDetail
    from drkit.jobs.forget import ForgetDetail
    from drkit.jobs.restore import RestoreDetail

    text = JSON_DOC.read_text().split("## Job details", 1)[1]
    for detail in (DrillDetail(), ForgetDetail(True), CheckDetail(Subset("1/12", 1, 12)),
                   RestoreDetail(Path("/r"), False, [])):
        for key in detail.to_json():
            assert f"`{key}`" in text, f"docs/json.md Job details: {type(detail).__name__}.{key}"




# --- errors: once, on stderr --------------------------------------------------------------------------

def run_drkit(site_root: Path, *args: str) -> subprocess.CompletedProcess:
    """The real entry point (`main()` prints the errors), in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRKIT_")}
    return subprocess.run([sys.executable, "-m", "drkit", "--state-dir", str(site_root / "state"), *args],
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("json_flag", [(), ("--json",)], ids=["text", "json"])
def test_a_broken_policy_is_reported_once_on_stderr_only(tmp_path, json_flag):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "db.yaml").write_text(POLICY.format(name="db", rpo="25h").replace("rto:", "rot:"))
    proc = run_drkit(tmp_path, "--policies", str(tmp_path / "policies"), "status", *json_flag)
    line = f"{tmp_path / 'policies' / 'db.yaml'}:4: objectives.rot: unknown key 'rot'"
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count(line) == 1 and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("json_flag", [(), ("--json",)], ids=["text", "json"])
def test_an_unknown_policy_is_reported_once_on_stderr_only(site, json_flag):
    proc = run_drkit(site.state.parent, "--policies", str(site.policies), "snapshots", "nope", *json_flag)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "drkit: error: no policy named 'nope' (known: db)\n"


def test_a_missing_policies_directory_is_reported_once_on_stderr_only(tmp_path):
    proc = run_drkit(tmp_path, "--policies", str(tmp_path / "none"), "status", "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("policies directory") == 1 and proc.stderr.startswith("drkit: error: ")
