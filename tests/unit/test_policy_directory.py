"""Zero policies and broken policy files (docs/reliability.md, "Zero or broken policies"):
an empty directory is exit 2, not an empty healthy-looking table; one broken file is reported
and skipped while the others run, and the command exits at least 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from factories import drkit_in_process

from drkit.core.errors import PolicyError
from drkit.core.policy import load_policies, scan_policies

GOOD = textwrap.dedent("""\
    version: 1
    name: {name}
    objectives: {{rpo: 24h, rto: 4h}}
    targets: [{{path: /srv/{name}}}]
    schedule: {{backup: every day at 01:30}}
    repository: {{url: /srv/repos/{name}, password_env: PW}}
    """)


def drkit(tmp_path: Path, *args: str):
    return drkit_in_process("--policies", str(tmp_path / "policies"), "--state-dir", str(tmp_path / "state"), *args)


@pytest.fixture
def policies(tmp_path) -> Path:
    path = tmp_path / "policies"
    path.mkdir()
    return path


@pytest.mark.parametrize("args", [("status",), ("status", "--json"), ("backup", "--all"), ("scheduler", "plan"),
                                  ("report",)])
def test_an_empty_policies_directory_is_a_usage_error(tmp_path, policies, args):
    (policies / "README.txt").write_text("not a policy")
    result = drkit(tmp_path, *args)
    assert result.code == 2, result
    assert f"drkit: error: no policies in {policies}" in result.stderr
    assert result.stdout == ""


def test_a_policy_file_given_as_the_policies_directory_is_named_as_a_file(tmp_path, policies):
    """`--policies shop.yaml` once said the directory "does not exist" though the path is right there."""
    (policies / "good.yaml").write_text(GOOD.format(name="good"))
    result = drkit_in_process("--policies", str(policies / "good.yaml"), "--state-dir", str(tmp_path / "state"),
                              "status")
    assert result.code == 2, result
    assert result.stderr == (f"drkit: error: policies directory {policies / 'good.yaml'} is a file, not a directory "
                             f"(pass the directory that holds it: --policies {policies})\n")


def test_a_broken_file_is_reported_and_the_others_still_run(tmp_path, policies):
    (policies / "good.yaml").write_text(GOOD.format(name="good"))
    (policies / "bad.yaml").write_text(GOOD.format(name="bad").replace("rpo: 24h", "rpo: soon"))
    result = drkit(tmp_path, "scheduler", "plan")
    assert result.code == 2, result
    assert f"{policies / 'bad.yaml'}:3: objectives.rpo: 'soon' is not a duration" in result.stderr
    assert "good" in result.stdout and "backup" in result.stdout  # the good policy's plan is still shown


def test_the_worst_exit_code_wins_over_a_broken_file(tmp_path, policies):
    """`status` of a policy that never backed up is a breach (3): worse than the broken file's 2."""
    (policies / "good.yaml").write_text(GOOD.format(name="good"))
    (policies / "bad.yaml").write_bytes(b"\xff\xfe" + GOOD.format(name="bad").encode("utf-16-le"))
    result = drkit(tmp_path, "status", "--json")
    assert result.code == 3, result
    assert f"{policies / 'bad.yaml'}:1: (file): UTF-16" in result.stderr
    assert '"policy": "good"' in result.stdout


def test_a_named_policy_in_a_good_file_runs_despite_a_broken_one(tmp_path, policies):
    (policies / "good.yaml").write_text(GOOD.format(name="good"))
    (policies / "bad.yaml").write_text("version: [\n")
    result = drkit(tmp_path, "policy", "explain", "good", "--json")
    assert result.code == 2, result
    assert '"name": "good"' in result.stdout
    assert f"{policies / 'bad.yaml'}:" in result.stderr


def test_only_broken_files_is_the_policy_error_itself(tmp_path, policies):
    (policies / "bad.yaml").write_text("version: [\n")
    result = drkit(tmp_path, "status")
    assert result.code == 2
    assert result.stderr.startswith(f"{policies / 'bad.yaml'}:")
    assert "no policies" not in result.stderr


def test_validate_still_lists_every_problem_of_every_file(tmp_path, policies):
    (policies / "a.yaml").write_text(GOOD.format(name="a").replace("rpo: 24h", "rpo: soon"))
    (policies / "b.yaml").write_text(GOOD.format(name="b").replace("path: /srv/b", "path: srv/b"))
    (policies / "c.yaml").write_text(GOOD.format(name="c"))
    result = drkit(tmp_path, "policy", "validate")
    assert result.code == 2
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == [str(policies / "a.yaml"),
                                                                          str(policies / "b.yaml")]
    with pytest.raises(PolicyError):
        load_policies([policies])


def test_scan_keeps_the_first_of_two_files_with_one_name(policies):
    (policies / "a.yaml").write_text(GOOD.format(name="same"))
    (policies / "b.yaml").write_text(GOOD.format(name="same"))
    scan = scan_policies([policies])
    assert [item.file.name for item in scan.loaded] == ["a.yaml"]
    assert [str(p) for p in scan.problems] == [f"{policies / 'b.yaml'}:2: name: policy name 'same' is also used by {policies / 'a.yaml'}"]


def test_missing_paths_are_problems_not_a_crash(tmp_path):
    scan = scan_policies([tmp_path / "missing-dir" / "x.yaml", tmp_path / "nodir"])
    assert scan.loaded == []
    assert len(scan.problems) == 2
