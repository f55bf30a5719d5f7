"""`drkit policy new NAME`: a commented starter policy that validates as written, and a fresh random
repository password in a 0600 file beside the policies (docs/recovery.md, "Starting a policy").

Nothing is ever overwritten: an existing policy file or password file stops the command before
anything is written (a replaced password file would make every existing backup unreadable).
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from drkit.core import errors
from drkit.core.display import format_when
from drkit.core.locations import location_problem
from drkit.core.policy import NAME_RE, load_policy_file

PASSWORD_BYTES = 32

TEMPLATE = """\
# drkit policy {name}, written by `drkit policy new {name}` on {date} UTC.
# Edit what says EDIT, then: drkit policy validate && drkit doctor {name} && drkit repo init {name}
# Every key is in the README's "Policy reference"; `drkit policy schema` gives editors a JSON Schema.
version: 1
name: {name}   # [a-z0-9-]+, unique across the policies directory
description: EDIT what this policy protects

business:                           # who cares when this is gone, and who to call
  function: EDIT the business function this data serves
  owner: EDIT Name <owner@example.com>
  tier: 3                           # 1 = most critical ... 5
  contacts:
    - {{role: incident-commander, name: EDIT who is on call, email: oncall@example.com}}

objectives:
  rpo: 24h                          # most data you may lose: 90s, 15m, 4h, 1d, 1w or ISO 8601 (PT4H)
  rto: 4h                           # longest time until the data is back

targets:                            # what to back up, by absolute path; also sqlite, postgres, command
{targets}
schedule:                           # phrases of the `schedule` library, local time
  backup: every 6 hours             # interval + backup duration must stay under the RPO
  drill: every sunday at 04:00      # a timed restore drill measures the recovery time
  check: every saturday at 05:00    # restic check, reading a rotating subset of the data
  forget: every day at 06:00        # applies the retention below

retention: {{keep_last: 3, keep_daily: 7, keep_weekly: 4, keep_monthly: 12}}

repository:
  url: {url}   # EDIT: s3:https://HOST[:PORT]/BUCKET/PREFIX
  password_file: {password_file}
  # ^ a random password written with this policy (0600). KEEP A COPY OFF THIS HOST: without it
  #   nobody can read these backups, and a lost host takes the only copy with it.

drill:
  sandbox: /var/tmp/drkit-drills    # drills restore into a fresh 0700 directory below this
  verify: full                      # full | sample:5%
  checks: []                        # e.g. - file_exists: srv/{name}/index.html

post_restore: []                    # printed after `drkit restore`, e.g. - systemctl start {name}
"""


@dataclass(frozen=True)
class NewPolicy:
    policy_file: Path
    password_file: Path
    password_created: bool
    missing_paths: list[Path] = field(default_factory=list)  # --path values that do not exist on this host


def password_path_for(policies_dir: Path, name: str) -> Path:
    """`<policies dir>/../keys/NAME.pass`: /etc/drkit/keys/NAME.pass beside /etc/drkit/policies."""
    return policies_dir.resolve().parent / "keys" / f"{name}.pass"


def render(name: str, *, url: str, paths: list[Path], password_file: Path, now: datetime) -> str:
    targets = "".join(f"  - path: {path}\n" for path in paths) or f"  - path: /srv/{name}   # EDIT\n"
    return TEMPLATE.format(name=name, date=format_when(now), targets=targets, url=url, password_file=password_file)


def write_new_policy(policies_dir: Path, name: str, *, url: str | None, paths: list[Path],
                     password_file: Path | None, now: datetime) -> NewPolicy:
    """Write NAME.yaml and a new random password file, at `password_file` or the default path; an
    existing `password_file` named on purpose is used as it is."""
    import re

    if not re.match(NAME_RE, name) or len(name) > 63:
        raise errors.UsageError(f"policy name '{name}': use lowercase letters, digits and '-' (e.g. shop-db)")
    for path in paths:
        if not path.is_absolute():
            raise errors.UsageError(f"--path {path}: give an absolute path")
    if url is not None and (problem := location_problem(url)):
        raise errors.UsageError(f"--url {problem}")
    policy_file = policies_dir / f"{name}.yaml"
    if policy_file.exists():
        raise errors.UsageError(f"{policy_file} already exists; nothing was written")
    named = password_file is not None
    password_file = (password_file or password_path_for(policies_dir, name)).absolute()
    create_password = not os.path.lexists(password_file)
    if not named and not create_password:  # never reuse a secret by accident
        raise errors.UsageError(f"password file {password_file} already exists; nothing was written",
                                hint="pass --password-file to use it (or another path for a new one)")
    text = render(name, url=url or f"s3:https://s3.example.com/EDIT-bucket/{name}",
                  paths=paths, password_file=password_file, now=now)
    made: list[Path] = []  # what this call created, removed again if it cannot finish: "nothing was written"
    try:
        if create_password:
            with errors.state_writes("write the password file", password_file, other="--password-file FILE"):
                made.append(password_file)
                _write_password(password_file)
        with errors.state_writes("write the policy file", policy_file, other="--policies DIR"):
            policies_dir.mkdir(parents=True, exist_ok=True)
            with open(policy_file, "x", encoding="utf-8") as handle:
                made.append(policy_file)
                handle.write(text)
    except BaseException:
        for path in made:
            with contextlib.suppress(OSError):  # never created, or its directory is not one
                path.unlink()
        raise
    load_policy_file(policy_file)  # the starter validates as written (a --url typo is caught here)
    return NewPolicy(policy_file, password_file, create_password, [p for p in paths if not os.path.lexists(p)])


def _write_password(path: Path) -> None:
    """32 random bytes, base64 (restic reads the file's first line), in a new 0600 file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = base64.b64encode(secrets.token_bytes(PASSWORD_BYTES)).decode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")
