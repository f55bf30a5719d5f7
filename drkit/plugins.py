"""Plug-ins: modules outside drkit that register target kinds, drill checks, notifier channels or
report formats (docs/extending.md).

drkit imports them when the CLI starts, before any policy is read: the modules named in
DRKIT_PLUGINS (comma-separated, importable from sys.path / PYTHONPATH) and every entry point of
the `drkit.plugins` group of the installed packages. A plug-in registers on import with the same
decorators drkit's own kinds use, so its kinds validate, print in `drkit policy schema` and run
exactly like built-in ones.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

from drkit.core.errors import UsageError

ENV = "DRKIT_PLUGINS"
GROUP = "drkit.plugins"


def plugin_modules(value: str | None) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def load_plugins() -> list[str]:
    """Import every plug-in; return their names. A plug-in that fails to load is a usage error
    (exit 2) naming it: running on without its kinds would reject or misread policies."""
    loaded = []
    for name in plugin_modules(os.environ.get(ENV)):
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any failure of a plug-in is reported the same way
            raise UsageError(f"{ENV}: plug-in {name!r} did not load: {type(exc).__name__}: {exc}",
                             hint="check the module name and PYTHONPATH") from None
        loaded.append(name)
    for point in entry_points(group=GROUP):
        try:
            point.load()
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"plug-in {point.name} ({point.value}, entry point group {GROUP}) did not load: "
                             f"{type(exc).__name__}: {exc}", hint="reinstall or uninstall its package") from None
        loaded.append(point.value)
    return loaded
