"""A YAML reader for files that people and other programs drop on us.

Both task files and config files come through here. PyYAML's `safe_load` is not
enough on its own:

- aliases can build a structure that explodes when walked ("billion laughs"),
  so every alias is refused;
- the C loader has crashed whole processes on deep nesting and the pure-Python
  composer recurses, so the pure-Python loader is used with a depth limit;
- YAML 1.1 turns `no` into False, `12:30` into 750 and `2024-01-01` into a
  date, so only the YAML 1.2 core scalars are resolved (null, true/false,
  decimal/hex/octal integers, floats); everything else stays a string;
- duplicate keys silently keep the last value, so they are refused;
- the size is capped before a single byte is parsed.

Every refusal is a `YamlError` whose message names the place in the file.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

MAX_DEPTH = 32


class YamlError(ValueError):
    """The text is not YAML we are willing to read; the message says why and where."""


class _CoreResolver(BaseResolver):
    """Resolves plain scalars as the YAML 1.2 core schema does."""


_CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    [*"-+0123456789"],
)
_CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    [*"-+.0123456789"],
)


class _CoreConstructor(SafeConstructor):
    """SafeConstructor with YAML 1.2 integers and no duplicate keys."""

    def construct_yaml_int(self, node: ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        base, digits = {"0o": (8, text[2:]), "0x": (16, text[2:])}.get(text[:2], (10, text))
        if len(digits) > 1000:  # int() refuses over 4300 digits; no field needs 1000
            raise ConstructorError(None, None, "integer too long", node.start_mark)
        return int(digits, base)  # YAML 1.1 would read 010 as octal and 1_000 as 1000

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable) or isinstance(key, list | dict):
                raise ConstructorError(
                    None, None, "a list or mapping cannot be a key", key_node.start_mark
                )
            if key in seen:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_CoreConstructor.add_constructor(
    "tag:yaml.org,2002:int",
    _CoreConstructor.construct_yaml_int,  # type: ignore[type-var]
)


class _GuardedComposer(Composer):
    """Refuses aliases and nesting deeper than MAX_DEPTH, before recursing."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        parser: Parser = self  # type: ignore[assignment]  # mixed in by _SafeCoreLoader
        if parser.check_event(AliasEvent):
            mark = parser.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise ComposerError(None, None, "aliases (*name) are not allowed", mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = parser.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _SafeCoreLoader(Reader, Scanner, Parser, _GuardedComposer, _CoreConstructor, _CoreResolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _GuardedComposer.__init__(self)
        _CoreConstructor.__init__(self)
        _CoreResolver.__init__(self)


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark) or a YamlError naming the bad byte."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    if "\x00" in text:
        raise YamlError(f"binary data, not text (NUL byte at offset {text.index(chr(0))})")
    return text


def load_yaml(data: bytes, *, max_bytes: int) -> Any:
    """Parse one YAML document from `data`, refusing everything listed above."""
    if len(data) > max_bytes:
        raise YamlError(f"file is {len(data):,} bytes; the limit is {max_bytes:,}")
    text = decode_text(data)
    try:
        loader = _SafeCoreLoader(text)  # the reader checks characters here already
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise YamlError(_describe(exc)) from None
    except ReaderError as exc:
        raise YamlError(_describe_reader_error(exc, text)) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {exc}") from None
    except RecursionError:
        # The depth guard should make this unreachable; if it is not, refuse
        # the file rather than let the error escape as a crash.
        raise YamlError("nested too deeply to read") from None


def _describe_reader_error(exc: ReaderError, text: str) -> str:
    """`line 2, column 5: character U+001B is not allowed in YAML text`."""
    # PyYAML gives the code point as an int for text input, a str for bytes.
    char = exc.character
    code = char if isinstance(char, int) else ord(char) if isinstance(char, str) else None
    if code is None:
        return "a character that YAML does not allow"
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - text.rfind("\n", 0, exc.position)
    return f"line {line}, column {column}: character U+{code:04X} is not allowed in YAML text"


def _describe(exc: yaml.MarkedYAMLError) -> str:
    """`line 3, column 7: found duplicate key 'title'` from PyYAML's two-part message."""
    parts = [part for part in (exc.context, exc.problem) if part]
    problem = ", ".join(parts) or "not valid YAML"
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
