"""Where drkit finds its policies and its state when the command line does not say
(docs/recovery.md, "Where drkit looks").

Policies: `--policies DIR`, else `DRKIT_POLICIES`, else `./policies` when it exists, else
`~/.config/drkit/policies` (XDG_CONFIG_HOME), else `/etc/drkit/policies`. State: `--state-dir`, else
`DRKIT_STATE_DIR`, else the first existing, accessible one of the user's (`~/.local/state/drkit`,
XDG_STATE_HOME) and the system's (`/var/lib/drkit`), root looking at the system's first; else the
user's default. Pure: the places are passed in, so tests choose them, and every choice carries the
reason `drkit policy where` prints.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Places:
    """The directories a user's drkit looks in, in the order of the rules above."""

    cwd: Path
    config_home: Path       # $XDG_CONFIG_HOME or ~/.config
    state_home: Path        # $XDG_STATE_HOME or ~/.local/state
    system_config: Path = Path("/etc/drkit")
    system_state: Path = Path("/var/lib/drkit")
    root: bool = False

    @classmethod
    def of_this_process(cls, env: Mapping[str, str] = os.environ) -> "Places":
        home = Path.home()
        return cls(Path.cwd(), Path(env.get("XDG_CONFIG_HOME") or home / ".config"),
                   Path(env.get("XDG_STATE_HOME") or home / ".local" / "state"), root=os.geteuid() == 0)

    def policy_dirs(self) -> list[Path]:
        return [self.cwd / "policies", self.config_home / "drkit" / "policies", self.system_config / "policies"]

    def state_dirs(self) -> list[Path]:
        user, system = self.state_home / "drkit", self.system_state
        return [system, user] if self.root else [user, system]

    def new_policy_dir(self) -> Path:
        """Where `drkit policy new` creates the policies directory when none exists yet."""
        return self.system_config / "policies" if self.root else self.config_home / "drkit" / "policies"


@dataclass(frozen=True)
class Chosen:
    path: Path | None        # None: nothing found (the error lists `considered`)
    reason: str              # why this one, for `drkit policy where`
    considered: list[Path] = field(default_factory=list)  # looked at before it, in order

    def as_dict(self) -> dict:
        return {"path": str(self.path) if self.path else None, "reason": self.reason,
                "considered": [str(p) for p in self.considered]}


def choose_policies_dir(flag: Path | None, env_value: str | None, places: Places) -> Chosen:
    if flag is not None:
        return Chosen(flag, "given with --policies")
    if env_value:
        return Chosen(Path(env_value), "set by DRKIT_POLICIES")
    looked: list[Path] = []
    for candidate in places.policy_dirs():
        if candidate.is_dir():
            return Chosen(candidate, "the first existing of " + _listing(places.policy_dirs()), looked)
        looked.append(candidate)
    return Chosen(None, "none of " + _listing(looked) + " exists", looked)


def choose_state_dir(flag: Path | None, env_value: str | None, places: Places) -> Chosen:
    if flag is not None:
        return Chosen(flag, "given with --state-dir")
    if env_value:
        return Chosen(Path(env_value), "set by DRKIT_STATE_DIR")
    looked: list[Path] = []
    for candidate in places.state_dirs():
        if candidate.is_dir() and os.access(candidate, os.R_OK | os.W_OK | os.X_OK):
            return Chosen(candidate, "the first existing one this user can use of " + _listing(places.state_dirs()),
                          looked)
        looked.append(candidate)
    default = places.state_dirs()[0]
    return Chosen(default, f"none exists yet: the default for {'root' if places.root else 'this user'} "
                           "(created on first use)", looked)


def missing_policies_message(chosen: Chosen) -> str:
    return (f"no policies directory: {_listing(chosen.considered)} do not exist "
            "(pass --policies DIR, set DRKIT_POLICIES, or start one: drkit policy new NAME)")


def _listing(paths: list[Path]) -> str:
    return ", ".join(str(p) for p in paths)
