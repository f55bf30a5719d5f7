"""Shell completion through click's API: scripts per shell, policy names and --format values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from factories import drkit_in_process


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    directory = tmp_path / "policies"
    directory.mkdir()
    for name in ("web", "wiki", "db"):
        (directory / f"{name}.yaml").write_text(
            f"version: 1\nname: {name}\nobjectives: {{rpo: 1d, rto: 4h}}\ntargets: [{{path: /srv/{name}}}]\n"
            "repository: {url: /srv/repo, password_env: PW}\n")
    (directory / "broken.yaml").write_text("version: 1\nname: [\n")
    return directory


def complete(monkeypatch, words: str) -> list[str]:
    """What bash would offer for the last word of `words` (click's bash_complete protocol, as the
    script runs it: a child process, since click writes completions to the real stdout)."""
    monkeypatch.setenv("_DRKIT_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", str(len(words.split(" ")) - 1))
    done = subprocess.run([sys.executable, "-m", "drkit"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if line]


def test_policy_names_complete_for_job_commands(monkeypatch, policies: Path) -> None:
    assert complete(monkeypatch, f"drkit --policies {policies} backup w") == ["web", "wiki"]
    assert complete(monkeypatch, f"drkit --policies {policies} restore-drill d") == ["db"]
    monkeypatch.setenv("DRKIT_POLICIES", str(policies))
    assert complete(monkeypatch, "drkit snapshots ") == ["db", "web", "wiki"]


def test_format_values_and_commands_complete(monkeypatch) -> None:
    assert {"table", "json", "csv", "html"} <= set(complete(monkeypatch, "drkit report --format "))
    assert "completion" in complete(monkeypatch, "drkit c")


def test_a_missing_policies_directory_completes_nothing_and_prints_no_error(monkeypatch, tmp_path: Path) -> None:
    assert complete(monkeypatch, f"drkit --policies {tmp_path / 'none'} backup ") == []


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F _drkit_completion drkit"),
                                           ("zsh", "#compdef drkit"), ("fish", "complete --no-files --command drkit")])
def test_completion_prints_the_script_of_each_shell(shell: str, marker: str) -> None:
    done = drkit_in_process("completion", shell)
    assert done.code == 0 and marker in done.stdout and "_DRKIT_COMPLETE" in done.stdout
    if shell == "bash":
        assert subprocess.run(["bash", "-n"], input=done.stdout, text=True, timeout=30).returncode == 0


def test_an_unknown_shell_is_a_usage_error() -> None:
    done = drkit_in_process("completion", "tcsh")
    assert done.code == 2 and "tcsh" in done.stderr
