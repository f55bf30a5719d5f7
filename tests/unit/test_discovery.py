"""Where drkit finds policies and state without being told, `drkit policy where` and `drkit policy new`."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from drkit.cli import cli
from drkit.core import errors
from drkit.core.discovery import Places, choose_policies_dir, choose_state_dir
from drkit.core.policy import load_policy_file


@pytest.fixture
def places(tmp_path) -> Places:
    return Places(cwd=tmp_path / "cwd", config_home=tmp_path / "config", state_home=tmp_path / "state",
                  system_config=tmp_path / "etc" / "drkit", system_state=tmp_path / "var" / "lib" / "drkit")


def test_policies_flag_then_env_then_cwd_then_user_config_then_system(places, tmp_path):
    cwd, user, system = places.policy_dirs()
    assert choose_policies_dir(tmp_path / "flag", "/env", places).reason == "given with --policies"
    assert choose_policies_dir(None, "/env", places).path == Path("/env")
    nothing = choose_policies_dir(None, None, places)
    assert nothing.path is None and nothing.considered == [cwd, user, system]
    for made in (system, user, cwd):  # each one found outranks those made before it
        made.mkdir(parents=True)
        chosen = choose_policies_dir(None, None, places)
        assert chosen.path == made and chosen.reason.startswith("the first existing of ")
    assert cwd == tmp_path / "cwd" / "policies" and user == tmp_path / "config" / "drkit" / "policies"
    assert system == tmp_path / "etc" / "drkit" / "policies"


def test_state_dir_flag_then_env_then_existing_user_or_system_then_default(places, tmp_path):
    assert choose_state_dir(tmp_path / "s", None, places).reason == "given with --state-dir"
    assert choose_state_dir(None, "/env-state", places).reason == "set by DRKIT_STATE_DIR"
    user, system = tmp_path / "state" / "drkit", tmp_path / "var" / "lib" / "drkit"
    default = choose_state_dir(None, None, places)
    assert default.path == user and "none exists yet" in default.reason
    system.mkdir(parents=True)
    assert choose_state_dir(None, None, places).path == system
    user.mkdir(parents=True)
    assert choose_state_dir(None, None, places).path == user  # a user's own state comes first
    root = Places(places.cwd, places.config_home, places.state_home, places.system_config, places.system_state,
                  root=True)
    assert choose_state_dir(None, None, root).path == system  # root's comes from /var/lib/drkit first


def run(args: list[str], home: Path, cwd: Path, monkeypatch, **env: str):
    monkeypatch.chdir(cwd)
    for name in ("DRKIT_POLICIES", "DRKIT_STATE_DIR", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(cli, args)


def refused(result) -> str:
    """The usage error (exit 2) a command raised; main() prints it as `drkit: error: …`."""
    assert isinstance(result.exception, errors.UsageError), result.output
    assert result.exception.exit_code == 2
    return str(result.exception)


def test_policy_where_says_what_was_chosen_and_why(tmp_path, monkeypatch):
    home, cwd = tmp_path / "home", tmp_path / "work"
    (home / ".config" / "drkit" / "policies").mkdir(parents=True)
    cwd.mkdir()
    result = run(["policy", "where"], home, cwd, monkeypatch, DRKIT_STATE_DIR=str(tmp_path / "st"))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"policies   {home}/.config/drkit/policies: the first existing of {cwd}/policies, "
        f"{home}/.config/drkit/policies, /etc/drkit/policies",
        f"state dir  {tmp_path}/st (does not exist yet): set by DRKIT_STATE_DIR"]
    (cwd / "policies").mkdir()
    data = json.loads(run(["policy", "where", "--json"], home, cwd, monkeypatch).stdout)
    assert data["schema"] == "drkit.policy-where/1"
    assert data["policies"] == {"path": str(cwd / "policies"), "reason": data["policies"]["reason"],
                                "considered": [], "exists": True}


def test_no_policies_anywhere_names_every_place_looked_at(tmp_path, monkeypatch):
    home, cwd = tmp_path / "home", tmp_path / "work"
    cwd.mkdir()
    if Path("/etc/drkit/policies").is_dir():
        pytest.skip("this machine has /etc/drkit/policies")
    assert refused(run(["status"], home, cwd, monkeypatch)) == (
        f"no policies directory: {cwd}/policies, {home}/.config/drkit/policies, /etc/drkit/policies do not exist "
        "(pass --policies DIR, set DRKIT_POLICIES, or start one: drkit policy new NAME)")


def test_policy_new_writes_a_valid_policy_and_a_private_random_password(tmp_path, monkeypatch):
    home, cwd = tmp_path / "home", tmp_path / "work"
    cwd.mkdir()
    policies = tmp_path / "site" / "policies"
    result = run(["--policies", str(policies), "policy", "new", "web", "--path", "/srv/web",
                  "--url", "s3:https://s3.example.net/dr/web"], home, cwd, monkeypatch)
    assert result.exit_code == 0, result.output
    password = tmp_path / "site" / "keys" / "web.pass"
    assert f"KEEP A COPY of {password} OFF THIS HOST" in result.stdout
    assert stat.S_IMODE(password.stat().st_mode) == 0o600 and stat.S_IMODE(password.parent.stat().st_mode) == 0o700
    assert len(base64.b64decode(password.read_text().strip())) == 32
    policy = load_policy_file(policies / "web.yaml")
    assert policy.repository.password_file == password and str(policy.targets[0].path) == "/srv/web"
    assert policy.repository.url == "s3:https://s3.example.net/dr/web"
    assert "# drkit policy web, written by `drkit policy new web`" in (policies / "web.yaml").read_text()
    assert password.read_text().strip() not in result.stdout

    # never overwritten: the policy, nor the password of another policy's default path
    before = password.read_text()
    again = run(["--policies", str(policies), "policy", "new", "web"], home, cwd, monkeypatch)
    assert "already exists; nothing was written" in refused(again)
    (policies / "web.yaml").rename(tmp_path / "web.yaml.bak")
    again = run(["--policies", str(policies), "policy", "new", "web"], home, cwd, monkeypatch)
    assert f"password file {password} already exists" in refused(again)
    assert password.read_text() == before and not (policies / "web.yaml").exists()
    # named on purpose, an existing password file is used as it is
    reuse = run(["--policies", str(policies), "policy", "new", "web", "--password-file", str(password)],
                home, cwd, monkeypatch)
    assert reuse.exit_code == 0 and "uses the existing password file" in reuse.stdout
    assert password.read_text() == before


def test_policy_new_refuses_bad_names_urls_and_relative_paths(tmp_path, monkeypatch):
    base = ["--policies", str(tmp_path / "p"), "policy", "new"]
    for args, message in [(["Web"], "policy name 'Web'"), (["web", "--url", "s3:htp://h/b"], "unknown scheme 'htp'"),
                          (["web", "--path", "srv"], "--path srv: give an absolute path")]:
        assert message in refused(run(base + args, tmp_path, tmp_path, monkeypatch))
    assert not (tmp_path / "p").exists() and not (tmp_path / "keys").exists()


def test_policy_new_warns_of_a_missing_path_and_leaves_no_password_when_the_policy_cannot_be_written(tmp_path,
                                                                                                  monkeypatch):
    missing = tmp_path / "nowhere"
    made = run(["--policies", str(tmp_path / "p"), "policy", "new", "web", "--path", str(missing)],
               tmp_path, tmp_path, monkeypatch)
    assert made.exit_code == 0 and f"--path {missing} does not exist on this host" in made.stderr
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be\n")
    password = tmp_path / "keys" / "db.pass"
    failed = run(["--policies", str(blocked / "policies"), "policy", "new", "db", "--password-file", str(password)],
                 tmp_path, tmp_path, monkeypatch)
    assert isinstance(failed.exception, errors.StateError), failed.output  # main() prints it, exit 1
    assert "cannot write the policy file" in str(failed.exception)
    assert not password.exists()  # nothing was written: not the password either
