"""A policy file's text before it becomes objects: size, encoding and YAML shape.

Broken or hostile input makes Python and PyYAML fail in their own ways: UnicodeDecodeError on a
UTF-16 file, RecursionError on deep nesting or a self-referencing alias (`&d [*d]`), ValueError
from `int()` on a 5,000-digit number or from `!!timestamp x`. Each check here turns one of those
into a `FILE:LINE: …` policy problem (exit 2) before anything is built; docs/reliability.md lists
them.
"""

from __future__ import annotations

import codecs
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from drkit.core.errors import PolicyError

MAX_BYTES = 1 << 20      # a policy is a few KiB; a bigger file is a mistake (or an attack)
MAX_DEPTH = 32           # nesting of the constructed data, aliases included (a policy needs ~6)
MAX_VALUES = 100_000     # values after alias expansion ("billion laughs" stays cheap)
_EVENTS = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: this pass is ~5x cheaper
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


def read_policy_text(file: Path) -> str:
    """The file's text, or PolicyError: unreadable, too big, not UTF-8, control characters,
    or a YAML shape (depth, aliases) that would exhaust the parser or the validator."""
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise PolicyError([f"{file}:1: cannot read file: {exc.strerror}"]) from None
    if len(raw) > MAX_BYTES:
        raise PolicyError([f"{file}:1: (file): larger than {MAX_BYTES // 1024} KiB; is this a policy file?"])
    text = _decoded(raw, file)
    problems = _control_characters(text, file) or _shape_problems(text, file)
    if problems:
        raise PolicyError(problems)
    return text


def _decoded(raw: bytes, file: Path) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise PolicyError([f"{file}:1: (file): UTF-16 (or UTF-32) text; save the file as UTF-8"])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise PolicyError([f"{file}:{line}: (file): byte 0x{raw[exc.start]:02x} is not UTF-8; "
                           "save the file as UTF-8"]) from None


def _control_characters(text: str, file: Path) -> list[str]:
    """YAML refuses these too, but with a multi-line message and only a character offset."""
    found = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if found is None:
        return []
    line = text.count("\n", 0, found.start()) + 1
    hint = " (UTF-16 text?)" if found.group() == "\x00" else ""
    return [f"{file}:{line}: (file): control character U+{ord(found.group()):04X} is not allowed{hint}; "
            "a policy file is plain UTF-8 text"]


@dataclass
class _Open:
    """A collection being parsed: its anchor, the value count when it opened, its height so far."""

    anchor: str | None
    start: int
    height: int = 0


def _shape_problems(text: str, file: Path) -> list[str]:
    """One pass over the parser's events (iterative, unlike composing), bounding the depth and the
    size of the data *after* alias expansion, and refusing an alias inside its own anchor."""
    stack: list[_Open] = []
    heights: dict[str, int] = {}   # anchor -> height of the anchored value
    sizes: dict[str, int] = {}     # anchor -> values in it, expanded
    values = 0
    try:
        for event in yaml.parse(text, Loader=_EVENTS):
            line = event.start_mark.line + 1
            added, height = 0, 0
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    return [f"{file}:{line}: (yaml): nested deeper than {MAX_DEPTH} levels"]
                values += 1
                stack.append(_Open(event.anchor, values))
                continue
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                done = stack.pop()
                height = done.height + 1
                if done.anchor:
                    heights[done.anchor], sizes[done.anchor] = height, values - done.start + 1
            elif isinstance(event, yaml.ScalarEvent):
                added = 1
                if event.anchor:
                    heights[event.anchor], sizes[event.anchor] = 0, 1
            elif isinstance(event, yaml.AliasEvent):
                if any(o.anchor == event.anchor for o in stack):
                    return [f"{file}:{line}: (yaml): alias *{event.anchor} refers to a value that contains it"]
                height, added = heights.get(event.anchor, 0), sizes.get(event.anchor, 1)
                if len(stack) + height > MAX_DEPTH:
                    return [f"{file}:{line}: (yaml): alias *{event.anchor} nests deeper than {MAX_DEPTH} levels"]
            else:
                continue
            values += added
            if values > MAX_VALUES:
                return [f"{file}:{line}: (yaml): more than {MAX_VALUES:,} values once aliases are expanded"]
            if stack:
                stack[-1].height = max(stack[-1].height, height)
    except yaml.MarkedYAMLError as exc:
        # libyaml >= 0.2.5 (PyYAML 6.0.2+ wheels) stops at 1,000 open brackets in its scanner, which
        # reads ahead of the events above: the same shape, caught before it reached MAX_DEPTH here.
        if "maximum nesting depth" in str(exc.problem) and exc.problem_mark is not None:
            return [f"{file}:{exc.problem_mark.line + 1}: (yaml): nested deeper than {MAX_DEPTH} levels"]
        return []  # a syntax error: the loader reports it with its line
    except yaml.YAMLError:
        return []
    return []


def node_problems(root: yaml.Node | None, file: Path) -> list[str]:
    """Keys that are not names (`~:`, `1:`) and text that no path, argv or URL can carry (NUL, a
    lone UTF-16 surrogate such as "\\ud800"), each with its line; every node is visited once."""
    found: set[tuple[int, str]] = set()
    seen: set[int] = set()
    todo: list[tuple[yaml.Node, str]] = [(root, "")] if root is not None else []
    while todo:
        node, where = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            found |= _text_problems(node, where or "(top level)")
        elif isinstance(node, yaml.SequenceNode):
            todo += [(item, f"{where}[{i}]") for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else "…"
                inner = f"{where}.{_shown(name)}" if where else _shown(name)
                if key.tag not in (_STR, _MERGE) or not (isinstance(name, str) and name.isprintable()):
                    found.add((_line(key), f"{inner}: a key must be a name such as 'retention', not {_describe(key)}"))
                    continue
                todo.append((value, inner))
    return [f"{file}:{line}: {text}" for line, text in sorted(found)]


def _text_problems(node: yaml.ScalarNode, where: str) -> set[tuple[int, str]]:
    text = node.value
    if "\x00" in text:
        bad = "a NUL character"
    elif any("\ud800" <= c <= "\udfff" for c in text):
        bad = "a lone UTF-16 surrogate (\\ud800-\\udfff)"
    else:
        return set()
    return {(_line(node), f"{where}: {_shown(text)} contains {bad}; remove it")}


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _shown(text: str, limit: int = 40) -> str:
    """Printable, bounded form of untrusted text for a message: repr escapes NUL and surrogates."""
    if text and all(c.isascii() and (c.isalnum() or c in "-_") for c in text):
        return text[:limit]
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 2] + "…'"


def _describe(key: yaml.Node) -> str:
    if isinstance(key, yaml.ScalarNode):
        kind = {"str": "text"}.get(key.tag.rsplit(":", 1)[-1], key.tag.rsplit(":", 1)[-1])
        return f"the {kind} {_shown(key.value)}" if key.value else f"an empty {kind}"
    return "a list or mapping"


def guard_scalar_constructors(loader: type[yaml.SafeLoader]) -> None:
    """Make every scalar constructor fail as a YAML error with a line: PyYAML's own raise
    ValueError (`!!int abc`, a 5,000-digit integer, `2024-13-45`), KeyError (`!!bool x`) or
    AttributeError (`!!timestamp x`)."""
    for tag, construct in list(loader.yaml_constructors.items()):
        if not inspect.isgeneratorfunction(construct):  # collections are built in generators
            loader.add_constructor(tag, _marked(construct))


def _marked(construct: Callable[[Any, yaml.Node], Any]) -> Callable[[Any, yaml.Node], Any]:
    def build(loader: Any, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a scalar constructor is bad input
            kind = (node.tag or "value").rsplit(":", 1)[-1]
            value = _shown(node.value) if isinstance(node.value, str) else "value"
            reason = str(exc).splitlines()[0].split(";")[0][:100] if str(exc) else type(exc).__name__
            raise yaml.constructor.ConstructorError(
                None, None, f"{value} is not a valid {kind} ({reason})", node.start_mark) from None
    return build
