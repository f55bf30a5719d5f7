"""Kinds registered at run time from outside drkit/ (tests/toy_plugin.py) are validated, documented
in the schema, offered by the CLI and run like drkit's own; mistakes keep their FILE:LINE errors."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from drkit.checks import CheckContext, run_checks
from drkit.cli import cli
from drkit.core.errors import PolicyError
from drkit.core.policy import CHECKS, NOTIFIERS, TARGETS, Model, Policy, json_schema, load_policies, load_policy_file
from drkit.notify import Message, send
from drkit.targets import prepare, target_kind
from drkit.views.report.formats import format_names, remove_format

TESTS = Path(__file__).parents[1]

POLICY = """\
version: 1
name: toys
objectives: {rpo: 1d, rto: 4h}
targets:
  - path: /srv/toys
  - toy: {text: hello}
repository: {url: /srv/repo, password_env: PW}
drill:
  checks:
    - toy_check: {expect: hello}
notify:
  - toy_log: /tmp/toy.log
"""


def forget_toys() -> None:
    TARGETS.remove("toy")
    CHECKS.remove("toy_check")
    NOTIFIERS.remove("toy_log")
    remove_format("toy")
    sys.modules.pop("toy_plugin", None)


@pytest.fixture
def toy():
    """The toy plug-in registered for one test, then forgotten: other tests (and the generated
    README reference) see only drkit's own kinds."""
    forget_toys()
    yield importlib.import_module("toy_plugin")
    forget_toys()


@pytest.fixture
def plugin_env(monkeypatch):
    """DRKIT_PLUGINS for the CLI in this process; whatever it registers is forgotten afterwards."""
    forget_toys()
    monkeypatch.setenv("DRKIT_PLUGINS", "toy_plugin")
    yield
    forget_toys()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "toys.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_registered_target_and_check_validate_like_built_in_ones(toy, tmp_path):
    policy = load_policy_file(write(tmp_path, POLICY))
    assert [type(t).__name__ for t in policy.targets] == ["PathTarget", "ToyTarget"]
    assert type(policy.drill.checks[0]) is toy.ToyCheck and type(policy.notify[0]) is toy.ToyLog
    assert TARGETS.keys() == ["path", "postgres", "mysql", "sqlite", "command", "toy"]
    assert policy.model_dump(mode="json")["targets"][1] == {"toy": {"text": "hello", "name": "toy.txt"}}


def test_an_unknown_kind_names_file_line_and_every_registered_key(toy, tmp_path):
    text = POLICY.replace("  - toy: {text: hello}", "  - toyy: {text: hello}")
    with pytest.raises(PolicyError) as exc:
        load_policy_file(write(tmp_path, text))
    assert [str(p) for p in exc.value.problems] == [
        f"{tmp_path / 'toys.yaml'}:{line_of(text, 'toyy')}: targets[1]: unknown kind ['toyy']; "
        "expected one of the keys path, postgres, mysql, sqlite, command, toy"]


def test_a_mistake_inside_a_plugin_kind_points_at_its_line(toy, tmp_path):
    text = POLICY.replace("{text: hello}", "{txt: hello}").replace("{expect: hello}", "{expect: hello, nam: x}")
    with pytest.raises(PolicyError) as exc:
        load_policy_file(write(tmp_path, text))
    file = tmp_path / "toys.yaml"
    assert [str(p) for p in exc.value.problems] == [
        f"{file}:{line_of(text, 'txt')}: targets[1].toy.text: required field is missing",
        f"{file}:{line_of(text, 'txt')}: targets[1].toy.txt: unknown key 'txt' (check the spelling; see `drkit policy schema`)",
        f"{file}:{line_of(text, 'nam:')}: drill.checks[0].toy_check.nam: unknown key 'nam' (check the spelling; "
        "see `drkit policy schema`)"]


def test_policies_validate_against_the_registries_of_the_moment(tmp_path):
    path = write(tmp_path, POLICY)
    forget_toys()
    with pytest.raises(PolicyError) as exc:
        load_policies([path])
    assert any("targets[1]: unknown kind ['toy']; expected one of the keys path, postgres, mysql, sqlite, command" in str(p)
               for p in exc.value.problems)
    try:
        importlib.import_module("toy_plugin")
        [loaded] = load_policies([path])
        assert loaded.name == "toys"
    finally:
        forget_toys()


def test_the_schema_lists_registered_kinds_only_while_registered(toy):
    def target_titles() -> list[str]:
        schema = json_schema()
        return [item.get("title") for item in schema["properties"]["targets"]["items"]["anyOf"]]

    assert target_titles() == ["PathTarget", "PostgresTarget", "MysqlTarget", "SqliteTarget", "CommandTarget", "ToyTarget"]
    assert "ToyCheck" in json.dumps(json_schema())
    forget_toys()
    assert target_titles() == ["PathTarget", "PostgresTarget", "MysqlTarget", "SqliteTarget", "CommandTarget"]


def test_a_kind_cannot_take_a_built_in_key_or_lack_its_key_field():
    class OtherPath(Model):
        path: str

    class Keyless(Model):
        text: str

    with pytest.raises(ValueError, match="kind 'path' is already registered by drkit.targets.path"):
        TARGETS.add("path", OtherPath, object())
    with pytest.raises(ValueError, match="Keyless has no field 'keyless'"):
        TARGETS.add("keyless", Keyless, object())
    assert TARGETS.keys() == ["path", "postgres", "mysql", "sqlite", "command"]


def test_the_plugin_target_stages_and_its_check_reads_the_restored_copy(toy, tmp_path):
    policy = load_policy_file(write(tmp_path, POLICY.replace("/srv/toys", str(tmp_path))))
    staging = tmp_path / "state" / "staging" / "toys"
    assert prepare(policy, staging) == [tmp_path, staging]
    assert (staging / "toy" / "toy.txt").read_text() == "hello"
    sandbox = tmp_path / "sandbox"
    copy = sandbox / str(staging).lstrip("/") / "toy" / "toy.txt"
    copy.parent.mkdir(parents=True)
    copy.write_text("hello")
    ctx = CheckContext(sandbox, str(staging), policy, tmp_path)
    [result] = run_checks(list(policy.drill.checks), ctx)
    assert (result.name, result.passed, result.detail) == ("toy_check toy.txt", True, "restored toy holds 'hello'")
    copy.write_text("tampered")
    [result] = run_checks(list(policy.drill.checks), ctx)
    assert not result.passed and not result.error and "expected 'hello'" in result.detail
    assert target_kind(policy.targets[1]).runbook(policy.targets[1], "x/toy.txt") == 'the toy text: `cat "$RESTORE/x/toy.txt"`'


def test_a_plugin_channel_receives_notifications(toy, tmp_path):
    log = tmp_path / "toy.log"
    policy = Policy.model_validate({
        "version": 1, "name": "toys", "objectives": {"rpo": "1d", "rto": "4h"}, "targets": [{"path": "/srv"}],
        "repository": {"url": "/srv/repo", "password_env": "PW"}, "notify": [{"toy_log": str(log), "on": ["failure"]}]})
    message = Message("toys", "backup", "failure", "failed", "restic exited 1", "host", "2026-01-01T00:00:00Z")
    assert send(policy, message) == []
    assert send(policy, Message("toys", "backup", "success", "ok", "fine", "host", "2026-01-01T00:00:00Z")) == []
    assert log.read_text() == "drkit toys backup FAILED\n"


def test_the_cli_loads_plugins_from_the_environment(plugin_env, tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    write(policies, POLICY)
    args = ["--policies", str(policies), "--state-dir", str(tmp_path / "state")]
    validated = CliRunner().invoke(cli, [*args, "policy", "validate"])
    assert validated.exit_code == 0 and "ok (toys)" in validated.output
    schema = CliRunner().invoke(cli, ["policy", "schema"])
    assert schema.exit_code == 0 and '"ToyTarget"' in schema.output
    report = CliRunner().invoke(cli, [*args, "report", "--format", "toy"])
    assert report.exit_code == 0, report.output
    assert report.output == "toys: 0 evidence records\n"
    assert "toy" in format_names()
    helped = CliRunner().invoke(cli, ["report", "--help"])
    assert "[table|json|csv|html|toy]" in helped.output, helped.output


def test_a_plugin_that_does_not_load_is_one_usage_error(tmp_path):
    env = {**os.environ, "DRKIT_PLUGINS": "toy_plugin, no_such_plugin_xyz",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "drkit", "policy", "schema"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == ("drkit: error: DRKIT_PLUGINS: plug-in 'no_such_plugin_xyz' did not load: "
                                   "ModuleNotFoundError: No module named 'no_such_plugin_xyz' "
                                   "(check the module name and PYTHONPATH)")
