"""The recovery order across policies, its timeline against each RTO, and checks as shell commands.
End to end (real drills, the plan's commands executed): tests/integration/test_recovery_plan.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from drkit.checks import ManualContext, check_command
from drkit.core.errors import PolicyError
from drkit.core.policy import load_policies
from drkit.core.recovery_plan import recovery_order, timeline, unknown_dependencies

POLICY = """\
version: 1
name: {name}
business:
  tier: {tier}
  depends_on: {deps}
objectives: {{rpo: 1d, rto: {rto}}}
targets: [{{path: /srv/{name}}}]
repository: {{url: "s3:http://127.0.0.1:9/b/{name}", password_file: /etc/pw}}
"""


def write(directory: Path, name: str, tier: int = 3, deps: list[str] | None = None, rto: str = "4h") -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(POLICY.format(name=name, tier=tier, deps=deps or [], rto=rto))
    return path


def test_dependencies_come_first_then_the_most_critical_tier_then_the_name(tmp_path):
    write(tmp_path, "web", tier=1, deps=["db", "auth"])
    write(tmp_path, "db", tier=2)
    write(tmp_path, "auth", tier=3)
    write(tmp_path, "wiki", tier=3)
    write(tmp_path, "billing", tier=1)
    order = [item.name for item in recovery_order(load_policies([tmp_path]))]
    # billing (tier 1, free) first; web (tier 1) must wait for db and auth
    assert order == ["billing", "db", "auth", "web", "wiki"]


def test_a_cycle_is_a_policy_error_naming_the_cycle_at_its_line(tmp_path):
    write(tmp_path, "a", deps=["b"])
    write(tmp_path, "b", deps=["c"])
    write(tmp_path, "c", deps=["a"])
    write(tmp_path, "d")
    with pytest.raises(PolicyError) as raised:
        recovery_order(load_policies([tmp_path]))
    [problem] = raised.value.problems
    assert problem.line == 5 and problem.path == "business.depends_on" and problem.file.endswith(".yaml")
    cycle = problem.message.split(";")[0].removeprefix("dependency cycle: ").split(" depends on ")
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["a", "b", "c"]
    assert raised.value.exit_code == 2


def test_an_unknown_dependency_is_named_and_left_out(tmp_path):
    write(tmp_path, "web", deps=["ghost"])
    policies = load_policies([tmp_path])
    assert [item.name for item in recovery_order(policies)] == ["web"]
    [problem] = unknown_dependencies(policies)
    assert str(problem) == (f"{tmp_path / 'web.yaml'}:5: business.depends_on: names 'ghost', which is not among the "
                            "policies (web); it is left out of the order")


def test_the_timeline_adds_up_and_flags_an_rto_the_order_cannot_meet(tmp_path):
    write(tmp_path, "db", tier=1, rto="1h")
    write(tmp_path, "web", tier=1, deps=["db"], rto="1h")
    write(tmp_path, "wiki", tier=3, rto="1d")
    order = recovery_order(load_policies([tmp_path]))
    steps = timeline(order, {"db": 40 * 60.0, "web": 30 * 60.0, "wiki": None})
    assert [(s.item.name, s.done_after_s, s.misses_rto, s.lower_bound) for s in steps] == [
        ("db", 2400.0, False, False),
        ("web", 4200.0, True, False),      # 30 min of its own, but only after db's 40: 70 min > 1 h
        ("wiki", 4200.0, False, True)]     # never drilled: at least 70 min


def test_checks_become_commands_a_person_can_run(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "app.yaml").write_text("""\
version: 1
name: app
objectives: {rpo: 1d, rto: 4h}
targets: [{path: /srv/app}, {sqlite: /var/lib/app/app.db}]
repository: {url: "s3:http://127.0.0.1:9/b/app", password_file: /etc/pw}
drill:
  checks:
    - file_exists: srv/app/$HOME "quoted".txt
    - sqlite: {path: /var/lib/app/app.db, query: "select count(*) from t where x = 'y'", expect_min: 2}
    - command: [sh, -c, 'test -d "$1"', check, "{sandbox}/srv/app"]
""")
    [item] = load_policies([tmp_path / "p"])
    ctx = ManualContext("/var/lib/drkit/staging/app", item.policy, tmp_path / "p")
    lines = [check_command(c, ctx) for c in item.policy.drill.checks]
    assert lines[0] == r'test -e "$RESTORE/srv/app/\$HOME \"quoted\".txt" && echo found   # file_exists'
    assert lines[1].startswith('sqlite3 -readonly "$RESTORE/var/lib/drkit/staging/app/sqlite/app.db" '
                               "'pragma integrity_check' && ") and lines[1].endswith("   # expect >= 2")
    # run them against a restore-like tree: the file test and the command pass, as the drill's would
    restore = tmp_path / "restore"
    (restore / "srv" / "app").mkdir(parents=True)
    (restore / "srv" / "app" / '$HOME "quoted".txt').write_text("x")
    for line in (lines[0], lines[2]):
        done = subprocess.run(["bash", "-c", line], env={"RESTORE": str(restore), "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True)
        assert done.returncode == 0, (line, done.stderr)


def test_plain_restic_fallback_names_each_copy_for_when_the_first_repository_is_lost():
    from report_builders import make_policy

    from drkit.views.recovery_plan import fallback_commands

    policy = make_policy(repository=None, repositories=[
        {"name": "primary", "url": "s3:https://s3.example.com/bucket/db", "password_file": "/etc/drkit/db.pass"},
        {"name": "offsite", "url": "s3:https://user:keyid@backup.example.net/copy/db",
         "password_file": "/etc/drkit/db-copy.pass"}])
    lines = fallback_commands(policy, Path("/srv/restore/db"))
    assert "# that repository lost? its copy offsite (drkit restore db --repository offsite …), with the same " \
           "restic commands:" in lines
    assert "#   export RESTIC_REPOSITORY=s3:https://backup.example.net/copy/db" in lines
    assert any(line.startswith("#   export RESTIC_PASSWORD_FILE=/etc/drkit/db-copy.pass") and
               "keys recover db --repository offsite" in line for line in lines)
    assert not any("copy" in line for line in fallback_commands(make_policy(), Path("/srv/restore/db")))
