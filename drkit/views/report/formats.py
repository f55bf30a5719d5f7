"""Report formats for `drkit report --format`: a name and a renderer of one `Report`.

Each format module registers its renderer with `@register_format`; the CLI offers whatever is
registered when it runs, plug-ins' formats included (docs/extending.md). A renderer returns the
report as text (for `-o FILE` and pipes); a format may also give a rich renderable for the
terminal (the coloured table).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from drkit.views.report.model import Report

# drkit's own formats, imported on first use (html pulls in jinja2),
# and listed first, in this order, whatever order they were imported in.
BUILTIN = {"table": "drkit.views.report.table", "json": "drkit.views.report.as_json",
           "csv": "drkit.views.report.as_csv", "html": "drkit.views.report.html"}

Renderer = Callable[[Report], str]
Sealer = Callable[[str, Any], str]  # (rendered text, the host's SigningKey) -> signed text


@dataclass(frozen=True)
class ReportFormat:
    name: str
    render: Renderer
    terminal: Callable[[Report], Any] | None = None  # a rich renderable, when a terminal gets more than text
    seal: Sealer | None = None  # signs what `render` made with the host's evidence key (html)


_FORMATS: dict[str, ReportFormat] = {}
_loaded = False


def register_format(name: str, *, terminal: Callable[[Report], Any] | None = None,
                    seal: Sealer | None = None) -> Callable[[Renderer], Renderer]:
    """Decorator: `drkit report --format NAME` renders with this function."""
    def decorate(render: Renderer) -> Renderer:
        if name in BUILTIN and render.__module__ != BUILTIN[name]:
            raise ValueError(f"report format '{name}' is drkit's own ({BUILTIN[name]})")
        current = _FORMATS.get(name)
        if current is not None and current.render.__module__ != render.__module__:
            raise ValueError(f"report format '{name}' is already registered by {current.render.__module__}")
        _FORMATS[name] = ReportFormat(name, render, terminal, seal)
        return render
    return decorate


def remove_format(name: str) -> None:
    """Forget a format (tests that register one for a while)."""
    _FORMATS.pop(name, None)


def format_names() -> list[str]:
    """drkit's formats first, in BUILTIN's order, then those plug-ins registered. Imports nothing:
    listing the choices of `--format` must not cost a JSON report jinja2 and the HTML modules."""
    return list(BUILTIN) + sorted(name for name in _FORMATS if name not in BUILTIN)


def report_format(name: str) -> ReportFormat:
    """The format, importing drkit's own module for it on first use."""
    if name not in _FORMATS and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
    return _FORMATS[name]
