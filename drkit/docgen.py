"""Generate the README's policy and CLI references and the man pages from the pydantic models and
click commands.

`python -m drkit.docgen --write` rewrites the marked README sections and man/*.1; the test suite
fails when the committed README or man pages differ from what this generates (docs that cannot drift).
"""

from __future__ import annotations

import re
import sys
import tempfile
import typing
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import click
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from drkit.core.kinds import KindRegistry
from drkit.core.policy import Policy

README = Path(__file__).resolve().parents[1] / "README.md"
MAN_DIR = README.parent / "man"
# The date in every man page header: fixed, so regenerating gives the committed bytes; bump it
# with drkit.__version__.
MAN_DATE = "2026-11-23"


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        base = get_args(annotation)[0]
        return {"timedelta": "duration", "SchedulePhrase": "schedule phrase", "str": "string"}.get(
            getattr(base, "__name__", ""), _type_name(base))
    if origin in (Union, UnionType):
        names = [_type_name(a) for a in get_args(annotation) if a is not type(None)]
        return " | ".join(dict.fromkeys(names))
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is typing.Literal:
        return " | ".join(map(str, get_args(annotation)))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "Path": "path",
            "timedelta": "duration", "datetime": "date or datetime"}.get(getattr(annotation, "__name__", ""),
                                                                        str(annotation))


def _registry_in(annotation: Any) -> KindRegistry | None:
    """The registry behind a list of alternatives (targets, drill.checks, notify), if any."""
    if get_origin(annotation) is typing.Annotated:
        found = [m for m in annotation.__metadata__ if isinstance(m, KindRegistry)]
        if found:
            return found[0]
    return next((r for arg in get_args(annotation) if (r := _registry_in(arg)) is not None), None)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    registry = _registry_in(annotation)
    if registry is not None:
        return registry.models()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.get_default(call_default_factory=True)
    if value is None or value == [] or isinstance(value, BaseModel):
        return ""
    if hasattr(value, "total_seconds"):
        return f"{value.total_seconds():g}s"
    return f"`{value}`"


def _rows(model: type[BaseModel], prefix: str, seen: set, kind_key: str | None = None) -> list[str]:
    """One row per key; in a list of alternatives (targets, checks, notify) the kind's registered
    key selects it."""
    rows = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = f"{prefix}{key}"
        nested = _models_in(field.annotation)
        registry = _registry_in(field.annotation)
        is_list = get_origin(field.annotation) is list or "list of" in _type_name(field.annotation)
        default = "**selects this kind**" if key == kind_key else _default(field)
        kinds = _type_name(field.annotation).replace("|", "\\|")  # alternatives: a bare | would end the cell
        rows.append(f"| `{path}` | {kinds} | {default} | "
                    f"{(field.description or '').replace('|', '/')} |")
        for sub in nested:
            if (sub, path) in seen:
                continue
            seen.add((sub, path))
            selector = registry.key_of(sub) if registry is not None else None
            rows += _rows(sub, f"{path}[]." if is_list else f"{path}.", seen, selector)
    return rows


def policy_reference() -> str:
    head = ["| key | type | default | meaning |", "|---|---|---|---|"]
    return "\n".join(head + _rows(Policy, "", set()))


def cli_reference() -> str:
    from drkit.cli import cli

    lines: list[str] = []

    def walk(command: click.Command, words: list[str]) -> None:
        if isinstance(command, click.Group):
            for name in sorted(command.commands):
                walk(command.commands[name], words + [name])
            return
        ctx = click.Context(command, info_name=" ".join(words))
        usage = " ".join(["drkit", *words, *command.collect_usage_pieces(ctx)])
        summary = command.get_short_help_str(limit=300).replace("|", "/")
        lines.append(f"| `{usage}` | {summary} |")

    walk(cli, [])
    return "\n".join(["| command | what it does |", "|---|---|"] + lines)


SECTIONS = {"policy-reference": policy_reference, "cli-reference": cli_reference}


def render(text: str) -> str:
    for name, build in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.S)
        text = pattern.sub(lambda m: m.group(1) + build() + "\n" + m.group(2), text)
    return text


def man_pages() -> dict[str, str]:
    """drkit.1 and one page per subcommand (drkit-backup.1, ...), by click-man from the click tree."""
    from click_man.core import write_man_pages

    from drkit import __version__
    from drkit.cli import cli

    with tempfile.TemporaryDirectory() as tmp:
        write_man_pages("drkit", cli, version=__version__, target_dir=tmp, date=MAN_DATE)
        return {page.name: page.read_text() for page in sorted(Path(tmp).glob("*.1"))}


def committed_man_pages() -> dict[str, str]:
    return {page.name: page.read_text() for page in sorted(MAN_DIR.glob("*.1"))}


def write_man() -> None:
    """Replace man/ with fresh pages (a removed command's page goes too)."""
    MAN_DIR.mkdir(exist_ok=True)
    for stale in MAN_DIR.glob("*.1"):
        stale.unlink()
    for name, text in man_pages().items():
        (MAN_DIR / name).write_text(text)


def main() -> None:
    current = README.read_text()
    fresh = render(current)
    if "--write" in sys.argv:
        README.write_text(fresh)
        write_man()
        return
    stale = [name for name, ok in (("README.md references", fresh == current),
                                   ("man pages", man_pages() == committed_man_pages())) if not ok]
    if stale:
        print(f"{' and '.join(stale)} out of date: run python -m drkit.docgen --write", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
