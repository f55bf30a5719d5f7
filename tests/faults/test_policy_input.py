"""Malformed policy files (docs/reliability.md): each is one `FILE:LINE: …` line and exit 2, never
a traceback. A handful of hand-picked inputs; the property test over 1,000 generated ones is
tests/unit/test_policy_fuzz.py."""

from __future__ import annotations

import re
import subprocess

import pytest
from factories import Env

VALID = b"""version: 1
name: fz
description: test
business: {function: Testing, owner: "QA <qa@example.com>", tier: 2}
objectives: {rpo: 24h, rto: 4h}
targets: [{path: /srv/shop}]
repository: {url: "s3:http://127.0.0.1:9/bucket/fz", password_file: /etc/drkit/password}
"""

MALFORMED = {
    "unterminated_quote": VALID.replace(b"description: test", b"description: 'test"),
    "NUL_byte": VALID.replace(b"description: test", b"description: te\x00st"),
    "tab_indentation": VALID.replace(b"name: fz", b"name: fz\n\t  extra: 1"),
    "huge_ISO_duration": VALID.replace(b"rpo: 24h", b"rpo: P99999999999999999999D"),
    "non-UTF-8": VALID.replace(b"description: test", b"description: caf\xe9 \xff"),
    "huge_duration": VALID.replace(b"rpo: 24h", b"rpo: 99999999999999999999w"),
    "deeply_nested_list": VALID.replace(b"description: test", b"description: " + b"[" * 5000
                                                     + b"]" * 5000),
    "deeply_nested_mapping": VALID + b"extra: " + b"{a: " * 3000 + b"1" + b"}" * 3000 + b"\n",
}


@pytest.mark.parametrize("content", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_policy_is_one_file_line_error_and_exit_2(tmp_path, content):
    policies = tmp_path / "policies"
    policies.mkdir()
    path = policies / "fz.yaml"
    path.write_bytes(content)
    for command in (["policy", "validate", str(path)], ["backup", "fz"]):
        proc = subprocess.run(Env.drkit_argv("--policies", str(policies), "--state-dir", str(tmp_path / "state"),
                                             *command), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        lines = proc.stderr.splitlines()
        assert lines and re.match(rf"{re.escape(str(path))}:\d+: ", lines[0]), proc.stderr
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
