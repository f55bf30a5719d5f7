"""A sealed HTML report: a new policy's page is not red before its objectives came into force, the
page embeds its JSON model with its sha256, the host's evidence key signs it, and `drkit evidence
verify --report` exits 0 for the page as made and 4 for a page with one byte changed
(docs/reports.md, "Sealed HTML")."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_builders import History

from drkit.cli import cli
from drkit.evidence.records import SigningKey, now_utc
from drkit.evidence.report_seal import MODEL_ID, check_page, model_blocks, seal_page

POLICY = """\
version: 1
name: fresh
business: {tier: 1, owner: Jane <jane@example.com>}
objectives: {rpo: 25h, rto: 4h}
targets: [{path: /srv/data}, {path: /srv/www}]
schedule: {backup: every day at 01:30, drill: every sunday at 04:00}
repository: {url: "s3:http://127.0.0.1:9/bucket/fresh", password_file: /etc/pw}
"""


class Site:
    def __init__(self, root: Path):
        self.policies, self.state = root / "policies", root / "state"
        self.policies.mkdir()
        (self.policies / "fresh.yaml").write_text(POLICY)
        history = History(self.state)
        now = now_utc()
        history.backup(now - timedelta(hours=3), now - timedelta(hours=2), policy="fresh")
        history.drill(now - timedelta(hours=1), 0.1, policy="fresh")
        history.list("fresh")
        self.first_evidence = now - timedelta(hours=2)

    def run(self, *args: str, code: int = 0):
        result = CliRunner().invoke(cli, ["--policies", str(self.policies), "--state-dir", str(self.state), *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code == code, (result.exit_code, result.output)
        return result


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    return Site(tmp_path_factory.mktemp("sealed"))


@pytest.fixture(scope="module")
def page(site, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("out") / "report.html"
    site.run("report", "--format", "html", "-o", str(path))
    return path


def test_the_default_period_of_a_new_policy_starts_when_its_objectives_came_into_force(site):
    data = json.loads(site.run("report", "--format", "json").stdout)
    [policy] = data["policies"]
    assert data["period"]["since"] == policy["in_force"]["from"]
    assert policy["in_force"]["coverage"] == 1.0 and policy["rpo"]["attainment"] == 1.0
    assert any("came into force" in note for note in data["notes"])
    assert policy["targets"] == ["path /srv/data", "path /srv/www"]
    [drill] = policy["rto"]["drills"]
    assert drill["result"] == "pass" and drill["checks"][0]["result"] == "pass"


def test_a_new_policy_s_page_is_not_red_and_names_its_targets_and_drill_checks(site, page):
    """Nothing before the objectives came into force is shown, so nothing is red for it; the one red
    figure is the verified RPO, honestly missed from F until the first drill restored a point."""
    text = page.read_text()
    verified = json.loads(site.run("report", "--format", "json").stdout)["policies"][0]["verified_rpo"]["attainment"]
    summary = text.split('id="summary"', 1)[1].split("</section>", 1)[0]
    assert re.findall(r'<td class="bad">([^<]*)</td>', summary) == [f"{verified * 100:.2f}%"]
    assert re.search(r'<td class="">100.00%</td>', summary)  # in force the whole period
    assert "check-fail" not in text.split("</style>", 1)[1]
    assert "<code>path /srv/data</code>, <code>path /srv/www</code>" in text
    assert "file_exists /srv/app/app.db: pass" in text


def test_the_page_embeds_its_model_with_its_sha256_and_verifies(site, page):
    text = page.read_text()
    model = re.search(f'<script type="application/json" id="{MODEL_ID}">(.*?)</script>', text, re.S).group(1)
    assert json.loads(model)["schema"] == "drkit.report/1"
    assert hashlib.sha256(model.encode()).hexdigest() in text
    key_id = SigningKey.load_or_create(site.state / "keys" / "evidence-ed25519.pem").key_id
    assert f'<code id="drkit-report-key">{key_id}</code>' in text
    result = site.run("evidence", "verify", "--report", str(page))
    assert "signature holds" in result.stdout


@pytest.mark.parametrize("edit", ["a figure", "the model", "one byte"])
def test_a_page_changed_anywhere_fails_with_exit_4(site, page, tmp_path, edit):
    text = page.read_text()
    if edit == "a figure":
        changed = text.replace("100.00%", "99.00%", 1)
    elif edit == "the model":
        changed = text.replace('"attainment": 1.0', '"attainment": 0.5', 1)
    else:
        middle = len(text) // 2
        changed = text[:middle] + ("x" if text[middle] != "x" else "y") + text[middle + 1:]
    assert changed != text
    bad = tmp_path / "report.html"
    bad.write_text(changed)
    result = site.run("evidence", "verify", "--report", str(bad), code=4)
    assert "does not verify" in result.stdout
    assert "signature by key" in result.stderr or "hashes to" in result.stderr
    data = json.loads(site.run("evidence", "verify", "--report", str(bad), "--json", code=4).stdout)
    assert data["source"] == "report" and data["ok"] is False and data["problems"]


def test_an_unsealed_page_or_another_file_does_not_verify():
    blocks = model_blocks('{"schema": "drkit.report/1", "policies": []}')
    unsigned = f"<html>{blocks.model}{blocks.seal}</html>"
    assert check_page(unsigned, {}).problems == ["the report is not signed (rendered outside `drkit report`?)"]
    assert "not a drkit HTML report" in check_page("<html></html>", {}).problems[0]


def test_sealing_signs_every_byte_but_the_signature(tmp_path):
    key = SigningKey.load_or_create(tmp_path / "k.pem")
    blocks = model_blocks('{"schema": "drkit.report/1", "policies": [], "caveat": "</script><b>"}')
    assert "</script><b>" not in str(blocks.model)  # a caveat cannot end the data block
    page = seal_page(f"<html><p>figure 1</p>{blocks.model}{blocks.seal}</html>", key)
    keys = {key.key_id: key.private.public_key()}
    assert check_page(page, keys).problems == []
    assert check_page(page.replace("figure 1", "figure 2"), keys).problems
