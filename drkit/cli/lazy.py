"""Commands imported when they are used: `drkit --help`, `--version` and each command load only
their own modules, not every command's (policies and pydantic, boto3, cryptography, the report
renderers). `drkit --help` lists each command by the summary in its table entry, so nothing is
imported to print it; tests/unit/test_imports.py checks each summary against the command's own
help, and that the light commands stay light (docs/performance.md)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import NamedTuple

import click


class LazyCommand(NamedTuple):
    target: str    # "drkit.cli.backup:backup": module and attribute of the click command
    summary: str   # the first sentence of its help, as `drkit --help` shows it


class LazyCommands(dict):
    """name -> click command, importing a command's module the first time the command is looked
    up. Iterating names imports nothing; `items()`/`values()` import every command (docgen, tests)."""

    def __init__(self, table: dict[str, LazyCommand]):
        super().__init__()
        self.table = table

    def __missing__(self, name: str) -> click.Command:
        if name not in self.table:
            raise KeyError(name)
        module, _, attribute = self.table[name].target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        self[name] = command
        return command

    def loaded(self, name: str) -> bool:
        return dict.__contains__(self, name)

    def get(self, name: str, default: click.Command | None = None) -> click.Command | None:  # type: ignore[override]
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or name in self.table

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*dict.keys(self), *self.table}))

    def __len__(self) -> int:
        return len({*dict.keys(self), *self.table})

    def keys(self) -> list[str]:  # type: ignore[override]
        return list(self)

    def items(self) -> list[tuple[str, click.Command]]:  # type: ignore[override]
        return [(name, self[name]) for name in self]

    def values(self) -> list[click.Command]:  # type: ignore[override]
        return [self[name] for name in self]


class LazyGroup(click.Group):
    """A click group over `LazyCommands`; `--help` shows the table's summaries of unloaded commands."""

    def __init__(self, *args, lazy: dict[str, LazyCommand], **kwargs):
        super().__init__(*args, **kwargs)
        commands = LazyCommands(lazy)
        commands.update(self.commands)
        self.commands = commands

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        commands: LazyCommands = self.commands  # type: ignore[assignment]
        shown = [(name, commands[name] if commands.loaded(name) else click.Command(name, help=commands.table[name].summary))
                 for name in self.list_commands(ctx)]
        shown = [(name, command) for name, command in shown if not command.hidden]
        if not shown:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in shown)
        with formatter.section("Commands"):
            formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in shown])
