"""Docs that cannot drift: README references are generated and must match the code."""

import re
from pathlib import Path

from click.testing import CliRunner

from drkit import docgen
from drkit.cli import cli
from drkit.core.errors import ExitCode
from drkit.core.policy import json_schema

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_policy_and_cli_references_are_current():
    assert docgen.render(README) == README, "run: python -m drkit.docgen --write"


def test_man_pages_are_current():
    """man/*.1 is what click-man makes of the click commands today: same pages, same text."""
    fresh = docgen.man_pages()
    assert "drkit.1" in fresh and "drkit-restore-drill.1" in fresh
    assert docgen.committed_man_pages() == fresh, "run: python -m drkit.docgen --write"


def schema_keys(schema: dict) -> set[str]:
    """Every key path of the policy JSON Schema (`drill.checks[].sqlite.query`), following $refs,
    alternatives and list items: what a policy file may contain, read from the schema itself rather
    than from the models docgen walks."""
    defs = schema.get("$defs", {})
    found: set[str] = set()

    def walk(node: dict, prefix: str, seen: frozenset[str]) -> None:
        ref = node.get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[1]
            if name not in seen:  # a recursive model ends the walk
                walk(defs[name], prefix, seen | {name})
            return
        for alternative in node.get("anyOf", []) + node.get("oneOf", []) + node.get("allOf", []):
            walk(alternative, prefix, seen)
        if "items" in node:
            walk(node["items"], prefix + "[]", seen)
        for key, sub in node.get("properties", {}).items():
            path = f"{prefix}.{key}" if prefix else key
            found.add(path)
            walk(sub, path, seen)

    walk(schema, "", frozenset())
    return found


def test_every_policy_key_is_in_the_readme():
    keys = schema_keys(json_schema())
    # registered kinds are in the schema too (targets, drill checks, notifier channels)
    assert {"objectives.rpo", "repository.password_file", "schedule.drill", "targets[].path",
            "drill.checks[].file_exists", "drill.checks[].sqlite.query", "notify[].webhook"} <= keys
    missing = sorted(key for key in keys if f"| `{key}` |" not in README)
    assert missing == [], f"policy keys missing from the README reference: {missing}"


def test_every_command_is_in_the_cli_reference():
    def names(group, prefix=()):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from names(command, prefix + (name,))
            else:
                yield " ".join(prefix + (name,))

    for name in names(cli):
        assert f"`drkit {name} " in README, name


def test_exit_code_table_matches_the_code_and_help():
    table = dict(re.findall(r"^\| (\d) \| (.+?) \|$", README, re.M))
    assert sorted(int(c) for c in table) == sorted(int(c) for c in ExitCode)
    help_text = CliRunner().invoke(cli, ["--help"]).output
    for code in ExitCode:
        assert re.search(rf"^\s+{int(code)}\s+\S", help_text, re.M), f"exit code {int(code)} missing from --help"


def test_readme_has_exactly_the_two_setup_commands():
    block = README.split("## Set-up", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["scripts/demo", "scripts/test"]


def test_docs_linked_from_readme_exist():
    for link in re.findall(r"\]\((docs/[^)]+)\)", README):
        assert (ROOT / link).exists(), link


def test_test_modules_have_unique_basenames():
    """pytest's default import mode imports test modules by basename: two alike break collection."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_every_command_summary_is_a_whole_sentence():
    """`drkit --help` and the README's CLI reference show click's short help, cut at the first
    sentence: an "e.g." in it cut `drkit dump`'s to "Write one file of a snapshot to stdout (e.g."."""
    import click

    def summaries(command: click.Command, path: str):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from summaries(sub, f"{path} {name}")
        else:
            yield path, command.get_short_help_str(limit=300)

    cut = [(path, text) for path, text in summaries(cli, "drkit")
           if text.count("(") != text.count(")") or text.count("`") % 2 or text.endswith(("e.g.", "i.e."))]
    assert cut == []


def test_every_policy_reference_row_has_its_four_cells():
    """A type with alternatives (`COMPLIANCE | GOVERNANCE`) written with a bare | split its row into
    five cells: the meaning fell off the table (`targets[].postgres.databases`)."""
    rows = docgen.policy_reference().splitlines()[2:]
    split = [row for row in rows if len(re.split(r"(?<!\\)\|", row)) != 6]  # 4 cells between 5 pipes
    assert split == []
