"""A backup and a drill still succeed under the hardening of the generated systemd units.

systemd is not PID 1 in the test containers, so `systemd-run -p ...` cannot apply the properties.
This test applies the ones that could break a run the way systemd implements them, with the same
kernel features (docs/operations.md, "Hardened systemd units"): a private mount namespace whose
every mount is read-only (`ProtectSystem=strict`, which also covers `ProtectHome=read-only`) with
`ReadWritePaths=` bound writable again, fresh tmpfs on /tmp and /var/tmp (`PrivateTmp=yes`),
`NoNewPrivileges=yes`, `CapabilityBoundingSet=`, and `UMask=0077`. The system-call filter and the
address-family restriction stay untested here; `systemd-analyze security` scores them
(tests/unit/test_units.py).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import Env, make_env, make_tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("setpriv")),
                                reason="emulating a unit's mount namespace needs root, unshare and setpriv")


def service_settings(text: str) -> dict[str, str]:
    """The [Service] keys of a unit file (the last value of a repeated key wins, as for these keys)."""
    settings, inside = {}, False
    for line in text.splitlines():
        if line.startswith("["):
            inside = line == "[Service]"
        elif inside and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings[key] = value
    return settings


def confined_script(settings: dict[str, str], argv: list[str]) -> str:
    """A shell script that, run by `unshare --mount`, applies the unit's file-system and privilege
    settings as systemd does, then execs `argv`."""
    assert settings["ProtectSystem"] == "strict"
    lines = ["set -eu",
             # ProtectSystem=strict: every mount read-only except the API file systems.
             "mount -o remount,bind,ro /",
             "awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r mp; do",
             "  case \"$mp\" in /|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue;; esac",
             "  mount -o remount,bind,ro \"$mp\" 2>/dev/null || true",
             "done"]
    if settings.get("PrivateTmp") == "yes":
        if _runs_from_tmp():   # keep /tmp visible, but writable as a private one would be
            lines += [f"mount --bind {tmp} {tmp}; mount -o remount,bind,rw {tmp}" for tmp in ("/tmp", "/var/tmp")]
        else:
            lines += ["mount -t tmpfs -o mode=1777 tmpfs /tmp", "mount -t tmpfs -o mode=1777 tmpfs /var/tmp"]
    for entry in shlex.split(settings.get("ReadWritePaths", "")):
        path = entry.removeprefix("-")
        optional = entry.startswith("-")
        lines.append(f"if [ -e {shlex.quote(path)} ]; then mount --bind {shlex.quote(path)} {shlex.quote(path)}; "
                     f"mount -o remount,bind,rw {shlex.quote(path)}; "
                     f"{'fi' if optional else 'else echo missing ' + shlex.quote(path) + ' >&2; exit 99; fi'}")
    capabilities = [c.strip().lower().removeprefix("cap_") for c in settings["CapabilityBoundingSet"].split()]
    lines.append(f"umask {settings.get('UMask', '0022')}")
    privileges = ["setpriv", "--bounding-set", ",".join(["-all", *(f"+{c}" for c in capabilities)]), "--inh-caps", "-all"]
    if settings.get("NoNewPrivileges") == "yes":
        privileges.append("--no-new-privs")
    lines.append("exec " + shlex.join([*privileges, "--", *argv]))
    return "\n".join(lines)


def _runs_from_tmp() -> bool:
    """A checkout or interpreter under /tmp (CI clones there) would vanish behind PrivateTmp=, as
    it would under systemd; a real installation never lives there, so the emulation then keeps /tmp
    (writable, as the private one would be)."""
    here = [Path(sys.executable).resolve(), Path(__file__).resolve()]
    return any(path.is_relative_to(tmp) for path in here for tmp in (Path("/tmp"), Path("/var/tmp")))


def run_confined(env: Env, unit: Path, extra: list[str] | None = None) -> subprocess.CompletedProcess:
    settings = service_settings(unit.read_text())
    argv = shlex.split(settings["ExecStart"]) + (extra or [])
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           confined_script(settings, argv)],
                          capture_output=True, text=True, env=env.env(), timeout=300)


@pytest.fixture
def outside_tmp(seaweedfs, bucket: str) -> Iterator[Env]:
    """An installation outside /tmp and the home directories, so PrivateTmp=yes and
    ProtectHome=read-only are what the units get (as on a real host: /srv, /var/lib)."""
    root = Path("/srv") / f"drkit-confinement-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True, mode=0o700)
    try:
        yield make_env(root, seaweedfs, bucket)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_backup_and_a_drill_succeed_inside_the_units_confinement(outside_tmp: Env) -> None:
    env = outside_tmp
    source = make_tree(env.root / "data")
    env.write_policy("confined", [source], schedule={"backup": "every day at 01:30", "drill": "every sunday at 04:00"})
    env.drkit("repo", "init", "confined", check=0)
    units = env.root / "units"
    env.drkit("scheduler", "install", "--systemd", "-o", str(units), check=0)
    backup_unit, drill_unit = units / "drkit-confined-backup.service", units / "drkit-confined-drill.service"
    assert service_settings(backup_unit.read_text())["PrivateTmp"] == "yes"
    assert service_settings(backup_unit.read_text())["ProtectHome"] == "read-only"

    backup = run_confined(env, backup_unit, ["--json"])
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert [run["result"] for run in json.loads(backup.stdout)["runs"]] == ["pass"], backup.stdout
    # The emulation bites: the unit may not write beside its state dir.
    escaped = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                              confined_script(service_settings(backup_unit.read_text()),
                                              ["touch", str(env.policies / "escaped")])],
                             capture_output=True, text=True, timeout=60)
    assert escaped.returncode != 0 and "Read-only file system" in escaped.stderr
    assert not (env.policies / "escaped").exists()

    drill = run_confined(env, drill_unit, ["--json"])
    assert drill.returncode == 0, drill.stdout + drill.stderr
    run = json.loads(drill.stdout)
    assert (run["job"], run["result"], run["record"]["result"]) == ("drill", "pass", "pass"), run
    assert not any((env.root / "drills").iterdir()), "the drill sandbox was left behind"
