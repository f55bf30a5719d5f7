"""What a command imports (docs/performance.md): `drkit --help`, `--version` and `status` must
not pay for boto3, matplotlib, jinja2 or cryptography, and --help not even for pydantic. Each
case runs the real CLI in a fresh interpreter and reads its `sys.modules`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from drkit.cli import COMMANDS, cli

HEAVY = ("boto3", "botocore", "matplotlib", "jinja2", "cryptography")
_PROBE = """
import json, sys
from drkit.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.stdout.flush()
print(json.dumps(sorted(m for m in sys.modules if "." not in m)), file=sys.stderr)
"""


def _imported(tmp_path: Path, *args: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRKIT_", "AWS_"))}
    env.update(DRKIT_POLICIES=str(tmp_path / "policies"), DRKIT_STATE_DIR=str(tmp_path / "state"))
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=env,
                          timeout=60, check=True)
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def _policy(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "site.yaml").write_text(yaml.safe_dump({
        "version": 1, "name": "site", "description": "imports test",
        "business": {"function": "Testing", "owner": "QA <qa@example.com>", "tier": 2},
        "objectives": {"rpo": "24h", "rto": "4h"}, "targets": [{"path": str(tmp_path)}],
        "repository": {"url": "s3:http://127.0.0.1:1/bucket/site", "password_file": str(tmp_path / "pw")},
    }))


@pytest.mark.parametrize("args", [("--help",), ("--version",)])
def test_help_and_version_import_no_heavy_library_and_no_pydantic(tmp_path, args):
    imported = _imported(tmp_path, *args)
    assert "drkit" in imported
    assert not imported & {*HEAVY, "pydantic", "yaml"}, imported & {*HEAVY, "pydantic", "yaml"}


def test_status_reads_policies_but_imports_no_boto3_cryptography_or_renderers(tmp_path):
    _policy(tmp_path)
    imported = _imported(tmp_path, "status")
    assert "pydantic" in imported  # it did read the policy (the probe is not vacuous)
    assert not imported & set(HEAVY), imported & set(HEAVY)


def test_backup_help_loads_only_its_own_command(tmp_path):
    imported = _imported(tmp_path, "backup", "--help")
    assert not imported & set(HEAVY), imported & set(HEAVY)


@pytest.mark.parametrize("limit", [20, 45, 80, 400])
def test_every_lazy_summary_is_what_the_command_itself_would_show(limit):
    """`drkit --help` prints the table's summaries without importing the commands: they must say
    what the commands' own help says, at any terminal width."""
    for name, entry in COMMANDS.items():
        command = cli.commands[name]
        assert isinstance(command, click.Command) and command.name == name
        assert (click.Command(name, help=entry.summary).get_short_help_str(limit)
                == command.get_short_help_str(limit)), name
