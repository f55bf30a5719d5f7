"""drkit runbook --all for two policies with a dependency, against real restic and SeaweedFS: the
order, the timeline against measured drills, and commands that restore the data when run verbatim."""

from __future__ import annotations

import re
import subprocess

import pytest
from factories import make_tree, same_tree

pytestmark = pytest.mark.slow


def sh_block(section: str, heading: str) -> str:
    """The first ```sh block after `heading` in one system's section of the plan."""
    return re.search(r"```sh\n(.*?)```", section.split(heading, 1)[1], re.S).group(1)


def test_runbook_all_orders_times_and_restores_by_its_own_commands(env, tmp_path):
    db_data, web_data = make_tree(tmp_path / "db-data", files=6), make_tree(tmp_path / "web-data", files=4)
    contacts = [{"role": "incident-commander", "name": "Ops on call", "phone": "+46 8 123"}]
    # web is tier 1 but needs db (tier 2) first; its RTO cannot survive waiting for db
    env.write_policy("web", [web_data], business={"function": "Web shop", "tier": 1, "depends_on": ["db"],
                                                  "contacts": contacts},
                     objectives={"rpo": "24h", "rto": "1s"},
                     drill={"sandbox": str(env.root / "drills"), "checks": [{"file_exists": f"{web_data}/README"}]})
    env.write_policy("db", [db_data], business={"function": "Orders database", "tier": 2})
    for name in ("db", "web"):
        env.drkit("repo", "init", name, check=0)
        env.drkit("backup", name, check=0)
    env.drkit("restore-drill", "db", check=0)
    env.drkit("restore-drill", "web")  # PASS or BREACH (RTO 1 s): either is a verified recovery time

    restore_dir = tmp_path / "restore"
    plan = env.drkit("runbook", "--all", "--restore-dir", str(restore_dir), check=0).stdout
    rows = re.findall(r"^\| (\d) \| (\w+) \| (\d) \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]*) \|$", plan, re.M)
    assert [(r[0], r[1], r[2], r[3].strip()) for r in rows] == [("1", "db", "2", "–"), ("2", "web", "1", "db")]
    assert rows[0][7].strip() == "ok" and rows[1][7].strip() == "**RTO cannot be met in this order**"
    assert "unknown" not in rows[0][4] + rows[1][4]  # measured by the drills
    db_section, web_section = plan.split("\n## 1. db", 1)[1].split("\n## 2. web", 1)
    assert "| incident-commander | Ops on call | +46 8 123 |" in web_section
    assert f'test -e "$RESTORE{web_data}/README" && echo found   # file_exists' in web_section
    assert "Web shop is currently unavailable" in web_section and "within 1s" in web_section
    assert env.s3_env["AWS_SECRET_ACCESS_KEY"] not in plan and "correct horse" not in plan

    # the plain-restic fallback, executed verbatim, brings db's data back
    fallback = sh_block(db_section, "### Without drkit: plain restic")
    assert f"RESTIC_PASSWORD_FILE={env.password_file}" in fallback
    done = subprocess.run(["bash", "-euc", fallback], env=env.env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert same_tree(db_data, restore_dir / "db" / str(db_data).lstrip("/"))
    # and so does the drkit command, for web, with its check
    command = sh_block(web_section, "### Restore").strip()
    assert command.startswith("drkit --policies ")
    argv = env.drkit_argv(*command.split()[1:])
    done = subprocess.run(argv, env=env.env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.startswith("OK web: restored snapshot"), done.stderr
    assert same_tree(web_data, restore_dir / "web" / str(web_data).lstrip("/"))
    check = sh_block(web_section, "### Check")
    assert subprocess.run(["bash", "-euc", check], capture_output=True, text=True).stdout.strip() == "found"

    # policy validate warns about the same timeline; HTML is the same plan
    warned = env.drkit("policy", "validate", check=0)
    assert "business.depends_on puts web back as system 2 of 2, after" in warned.stderr
    html = tmp_path / "plan.html"
    env.drkit("runbook", "--all", "--format", "html", "-o", str(html), check=0)
    assert html.read_text().startswith("<!doctype html>") and "<table>" in html.read_text()


def test_a_dependency_cycle_is_exit_2_naming_the_cycle(env, tmp_path):
    env.write_policy("a", [tmp_path], business={"depends_on": ["b"]})
    env.write_policy("b", [tmp_path], business={"depends_on": ["a"]})
    proc = env.drkit("runbook", "--all", check=2)
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert re.fullmatch(rf"{env.policies}/[ab]\.yaml:\d+: business\.depends_on: dependency cycle: "
                        r"(a depends on b depends on a|b depends on a depends on b); .*", line), line
