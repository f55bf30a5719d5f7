"""systemd units and crontab lines from the policies' schedules; systemd itself checks the units."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from factories import drkit_in_process, installed

from drkit.core import errors
from drkit.core.display import count_of
from drkit.core.policy import Policy
from drkit.daemon.scheduler import job_specs
from drkit.daemon.units import (
    BLOCK_BEGIN,
    BLOCK_END,
    Confinement,
    crontab,
    drkit_argv,
    exec_line,
    merge_block,
    systemd_units,
)


def make_policy(name: str, **phrases: str) -> Policy:
    return Policy.model_validate({
        "version": 1, "name": name, "objectives": {"rpo": "1d", "rto": "4h"}, "targets": [{"path": "/srv/data"}],
        "schedule": phrases, "retention": {"keep_daily": 7}, "repository": {"url": "/srv/repo", "password_env": "PW"},
    })


SHOP = make_policy("shop-db", backup="every day at 01:30", drill="every sunday at 04:00",
                   check="every saturday at 05:00", forget="every day at 03:00")
FAST = make_policy("fast", backup="every 3 days")
BASE = [sys.executable, "-m", "drkit", "--policies", "/etc/drkit/policies", "--state-dir", "/var/lib/drkit"]


def units_by_name(*policies: Policy, **kwargs) -> dict[str, str]:
    return {u.name: u.text for u in systemd_units(job_specs(list(policies)), BASE, **kwargs)}


def section(text: str, name: str) -> list[str]:
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("["):
            inside = line == f"[{name}]"
        elif inside and line and not line.startswith("#"):
            lines.append(line)
    return lines


def test_one_daemon_service_and_a_service_and_timer_per_policy_job() -> None:
    units = units_by_name(SHOP, FAST)
    assert sorted(units) == sorted(["drkit.service", "drkit-notify@.service"] + [f"drkit-shop-db-{job}.{kind}" for job in
                                                       ("backup", "forget", "check", "drill")
                                                       for kind in ("service", "timer")]
                                   + ["drkit-fast-backup.service", "drkit-fast-backup.timer"])


def test_job_services_run_the_cli_command_of_their_job_with_absolute_paths() -> None:
    units = units_by_name(SHOP)
    commands = {job: next(l for l in section(units[f"drkit-shop-db-{job}.service"], "Service")
                          if l.startswith("ExecStart="))
                for job in ("backup", "forget", "check", "drill")}
    prefix = f"ExecStart={sys.executable} -m drkit --policies /etc/drkit/policies --state-dir /var/lib/drkit "
    assert commands == {"backup": prefix + "backup shop-db", "forget": prefix + "forget shop-db",
                        "check": prefix + "repo check shop-db", "drill": prefix + "restore-drill shop-db"}
    assert "Type=oneshot" in section(units["drkit-shop-db-backup.service"], "Service")


def test_timers_use_the_phrases_calendar_and_catch_up_after_downtime() -> None:
    units = units_by_name(SHOP, FAST)
    assert section(units["drkit-shop-db-backup.timer"], "Timer") == [
        "OnCalendar=*-*-* 01:30:00", "Persistent=true", "Unit=drkit-shop-db-backup.service"]
    assert section(units["drkit-shop-db-drill.timer"], "Timer")[0] == "OnCalendar=Sun *-*-* 04:00:00"
    # "every 3 days" has no calendar form: monotonic timer, where Persistent= would mean nothing
    assert section(units["drkit-fast-backup.timer"], "Timer") == [
        "OnBootSec=15min", "OnUnitActiveSec=3d", "Unit=drkit-fast-backup.service"]
    assert section(units["drkit-fast-backup.timer"], "Install") == ["WantedBy=timers.target"]


def test_the_daemon_unit_gives_the_running_job_its_grace_and_reloads_on_hup() -> None:
    service = section(units_by_name(SHOP, grace_s=45)["drkit.service"], "Service")
    assert f"ExecStart={sys.executable} -m drkit --policies /etc/drkit/policies --state-dir /var/lib/drkit " \
           f"scheduler run --grace 45" in service
    assert "KillMode=mixed" in service                 # SIGTERM to drkit only, not straight to restic
    assert "TimeoutStopSec=105" in service             # grace + time to stop restic and record
    assert "ExecReload=/bin/kill -HUP $MAINPID" in service
    assert "RestartPreventExitStatus=2 5" in service


def test_jitter_becomes_randomized_delay() -> None:
    assert "RandomizedDelaySec=120" in section(units_by_name(SHOP, jitter_s=120)["drkit-shop-db-backup.timer"], "Timer")


@pytest.mark.parametrize("arg, quoted", [
    ("/var/lib/drkit", "/var/lib/drkit"),
    ("/srv/my policies", '"/srv/my policies"'),
    ("/srv/100%", "/srv/100%%"),                       # % starts a systemd specifier
    ("/srv/$HOME", "/srv/$$HOME"),                     # $ expands environment variables
    ('/srv/a"b', '"/srv/a\\"b"'),
])
def test_exec_lines_quote_what_systemd_would_otherwise_interpret(arg: str, quoted: str) -> None:
    assert exec_line(["/usr/bin/python3", arg]) == f"/usr/bin/python3 {quoted}"


def hardened(*policies: Policy, state_dir: Path = Path("/var/lib/drkit")) -> dict[str, str]:
    return {u.name: u.text for u in systemd_units(job_specs(list(policies)), BASE,
                                                  confinement=Confinement.of(list(policies), state_dir))}


def test_systemd_accepts_the_generated_units(tmp_path: Path) -> None:
    if installed("systemd-analyze", "systemd") is None:
        pytest.skip("systemd-analyze not installed (scripts/test installs it; in CI its absence fails)")
    base = drkit_argv(tmp_path / "my policies", tmp_path / "state 100%")
    policies = [SHOP, FAST, make_policy("often", backup="every 5 seconds")]
    for unit in systemd_units(job_specs(policies), base, confinement=Confinement.of(policies, tmp_path / "state 100%")):
        (tmp_path / unit.name).write_text(unit.text)
    files = sorted(str(p) for p in tmp_path.iterdir())
    proc = subprocess.run(["systemd-analyze", "verify", *files], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines() if str(tmp_path) in line]
    assert proc.returncode == 0 and complaints == [], proc.stdout + proc.stderr


def test_crontab_lines_use_the_cron_form_of_each_phrase() -> None:
    text = crontab(job_specs([SHOP]), BASE)
    lines = [line for line in text.splitlines() if line and not line.startswith(("#", "SHELL="))]
    prefix = f"{sys.executable} -m drkit --policies /etc/drkit/policies --state-dir /var/lib/drkit -q"
    assert lines == [f"30 1 * * * {prefix} backup shop-db", f"0 3 * * * {prefix} forget shop-db",
                     f"0 5 * * 6 {prefix} repo check shop-db", f"0 4 * * 0 {prefix} restore-drill shop-db"]


def test_cron_escapes_percent_signs_and_quotes_paths() -> None:
    base = ["/usr/bin/python3", "-m", "drkit", "--policies", "/srv/my policies", "--state-dir", "/srv/100%"]
    [line] = [l for l in crontab(job_specs([make_policy("a", backup="every day at 01:30")]), base).splitlines()
              if l.startswith("30 1")]
    assert line == "30 1 * * * /usr/bin/python3 -m drkit --policies '/srv/my policies' --state-dir /srv/100\\% -q backup a"


def test_phrases_cron_cannot_express_are_named_with_the_alternatives() -> None:
    policies = [SHOP, make_policy("often", backup="every 5 seconds", check="every 7 minutes")]
    with pytest.raises(errors.UsageError) as caught:
        crontab(job_specs(policies), BASE)
    message = str(caught.value)
    assert "often backup 'every 5 seconds'" in message and "often check 'every 7 minutes'" in message
    assert "shop-db" not in message
    assert "--systemd" in message and "scheduler run" in message
    assert caught.value.exit_code == 2


def test_the_crontab_is_one_marked_block_that_a_rerun_replaces_and_uninstall_removes() -> None:
    block = crontab(job_specs([SHOP]), BASE)
    assert block.splitlines()[0] == BLOCK_BEGIN and block.splitlines()[-1] == BLOCK_END
    mine = "MAILTO=ops@example.org\n0 * * * * /usr/local/bin/other-job\n"
    once = merge_block(mine, block)
    assert once.startswith(mine) and once.count(BLOCK_BEGIN) == 1
    newer = crontab(job_specs([make_policy("b", backup="every day at 02:00"), SHOP]), BASE)
    twice = merge_block(once, newer)
    assert twice.count(BLOCK_BEGIN) == 1 and twice.count(BLOCK_END) == 1 and twice.endswith(newer)
    assert merge_block(twice, "") == mine                  # --uninstall leaves the user's own lines as they were
    assert merge_block("", block) == block


def test_cron_commands_run_quietly_so_cron_mails_only_failures() -> None:
    commands = [l for l in crontab(job_specs([SHOP]), BASE).splitlines() if l[:1].isdigit()]
    assert commands and all(" -q " in line for line in commands)


def policy_dir(tmp_path: Path, name: str, **sections: dict) -> Path:
    """A policies directory holding one policy file, for the CLI tests below."""
    policies = tmp_path / "policies"
    policies.mkdir()
    document = {"version": 1, "name": name, "objectives": {"rpo": "1d", "rto": "4h"}, "targets": [{"path": "/srv/www"}],
                "repository": {"url": "/srv/repo", "password_env": "PW"}, **sections}
    (policies / f"{name}.yaml").write_text(json.dumps(document))   # JSON is YAML
    return policies


def test_install_cron_twice_leaves_one_block_and_quiet_prints_nothing(tmp_path: Path) -> None:
    policies = policy_dir(tmp_path, "web", schedule={"backup": "every day at 01:30"})
    (tmp_path / "cron").mkdir()
    (tmp_path / "cron" / "drkit.crontab").write_text("MAILTO=ops\n")
    args = ("--policies", str(policies), "--state-dir", str(tmp_path / "state"))
    for _ in range(2):
        done = drkit_in_process(*args, "-q", "scheduler", "install", "--cron", "-o", str(tmp_path / "cron"))
        assert (done.code, done.stdout, done.stderr) == (0, "", "")
    text = (tmp_path / "cron" / "drkit.crontab").read_text()
    assert text.startswith("MAILTO=ops\n") and text.count(BLOCK_BEGIN) == 1 and " -q backup web" in text
    drkit_in_process(*args, "scheduler", "install", "--cron", "--uninstall", "-o", str(tmp_path / "cron"))
    assert (tmp_path / "cron" / "drkit.crontab").read_text() == "MAILTO=ops\n"
    missing = drkit_in_process(*args, "-q", "backup", "nosuch")
    assert missing.code == 2 and missing.stdout == "" and "nosuch" in missing.stderr


@pytest.mark.parametrize("n, noun, text", [(1, "policy", "1 policy"), (2, "policy", "2 policies"),
                                           (0, "record", "0 records"), (1, "file", "1 file"), (1200, "key", "1,200 keys")])
def test_counts_read_in_the_right_number(n: int, noun: str, text: str) -> None:
    assert count_of(n, noun) == text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", ["drkit-shop-db-backup.service", "drkit-shop-db-drill.service", "drkit.service"])
def test_hardened_units_score_ok_in_systemd_analyze_security(tmp_path: Path, unit: str) -> None:
    (tmp_path / unit).write_text(hardened(SHOP)[unit])
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(tmp_path / unit)],
                          capture_output=True, text=True, timeout=60)
    [score] = [float(line.split(": ")[1].split()[0]) for line in proc.stdout.splitlines()
               if "Overall exposure level" in line]
    assert score <= 4.0, proc.stdout


def test_hardening_writes_only_the_state_dir_sandboxes_and_local_repositories() -> None:
    units = hardened(SHOP)
    backup, drill = (section(units[f"drkit-shop-db-{job}.service"], "Service") for job in ("backup", "drill"))
    assert "ReadWritePaths=-/var/lib/drkit -/srv/repo" in backup     # the policy's repository is a local path
    assert "ReadWritePaths=-/var/lib/drkit -/srv/repo -/var/tmp/drkit-drills" in drill
    assert "CapabilityBoundingSet=CAP_DAC_READ_SEARCH" in backup
    assert "CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_CHOWN CAP_FOWNER" in drill
    assert {"ProtectSystem=strict", "ProtectHome=read-only", "PrivateTmp=yes", "NoNewPrivileges=yes",
            "IOSchedulingClass=idle", "Nice=10", "TimeoutStopSec=90"} <= set(backup)
    assert "IOSchedulingClass=idle" not in drill       # a drill measures recovery time: full speed
    assert "OnFailure=drkit-notify@%n.service" in section(units["drkit-shop-db-backup.service"], "Unit")
    assert "drkit-notify@.service" in units


def test_a_target_in_a_home_directory_keeps_home_visible() -> None:
    home = Policy.model_validate({**SHOP.model_dump(mode="json", exclude={"repository_list"}, exclude_none=True),
                                  "targets": [{"path": "/home/alice/site"}]})
    assert "ProtectHome=no" in section(hardened(home)["drkit-shop-db-backup.service"], "Service")


def test_quiet_status_is_silent_while_healthy_and_shows_the_table_on_stderr_on_a_breach(tmp_path: Path) -> None:
    policies = policy_dir(tmp_path, "new", objectives={"rpo": "1d", "rto": "4h", "in_force_from": "2026-01-01"})
    breached = drkit_in_process("--policies", str(policies), "--state-dir", str(tmp_path / "state"), "-q", "status")
    assert breached.code == 3 and breached.stdout == "" and "new" in breached.stderr and "RPO" in breached.stderr


COPIED = Policy.model_validate({
    "version": 1, "name": "shop", "objectives": {"rpo": "1d", "rto": "4h"}, "targets": [{"path": "/srv/data"}],
    "schedule": {"backup": "every day at 01:30", "copy": "every day at 02:30"},
    "repositories": [{"name": "primary", "url": "/srv/repo", "password_env": "PW"},
                     {"name": "offsite", "url": "/srv/copy", "password_env": "PW"}]})


def test_a_copy_phrase_becomes_a_copy_job_after_the_backup() -> None:
    """docs/repositories.md, "Copies": the daemon, units and cron lines run `drkit copy NAME`."""
    assert [(spec.job, spec.phrase.text) for spec in job_specs([COPIED])] == [
        ("backup", "every day at 01:30"), ("copy", "every day at 02:30")]
    units = units_by_name(COPIED)
    start = next(line for line in section(units["drkit-shop-copy.service"], "Service") if line.startswith("ExecStart="))
    assert start.endswith("--state-dir /var/lib/drkit copy shop")
    prefix = f"{sys.executable} -m drkit --policies /etc/drkit/policies --state-dir /var/lib/drkit -q"
    assert f"30 2 * * * {prefix} copy shop" in crontab(job_specs([COPIED]), BASE).splitlines()
    assert COPIED.model_dump(mode="json")["schedule"]["copy"] == "every day at 02:30"  # the YAML key
