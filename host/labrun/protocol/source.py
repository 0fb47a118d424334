"""Protocol source text: reading a file as UTF-8 and composing its YAML nodes with positions.

PyYAML's composer gives every node a start mark (line and column) and builds no Python
values, so every key and value can be checked against its place in the file. libyaml's
composer is used when PyYAML has it, for speed; its error messages differ, so a document it
rejects is composed again by the pure-Python composer, whose messages are the ones shown.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import yaml

from labrun import _yaml
from labrun.protocol.diagnostic import Diagnostic, Severity

_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# libyaml's composer recurses in C: far past this depth it overflows the C stack, and its
# time grows with the square of the depth. No protocol nests anywhere near this deep.
MAX_YAML_DEPTH = 1000

_LEADING_TAB = re.compile(r"^ *\t", re.MULTILINE)
_BLOCK_KIND = {
    "while parsing a block mapping": "mapping",
    "while parsing a block collection": "list",
}
_TOKEN_NAME = {
    "<block sequence start>": "list item",
    "<block mapping start>": "key",
    "<scalar>": "value",
    "-": "list item",
}


class Position(NamedTuple):
    """Where a node starts: 1-based line and column. A tuple: there is one per node."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Source:
    """The text of one protocol file and the name diagnostics give it."""

    name: str
    text: str

    @cached_property
    def _lines(self) -> list[str]:
        return self.text.splitlines()

    def line(self, number: int) -> str | None:
        """The 1-based line `number`, or None past the end."""
        if 1 <= number <= len(self._lines):
            return self._lines[number - 1]
        return None

    def diagnostic(
        self, line: int, column: int, message: str, hint: str | None = None
    ) -> Diagnostic:
        return Diagnostic(self.name, line, column, Severity.ERROR, message, hint, self.line(line))


def read_source(path: str | os.PathLike[str]) -> Source | Diagnostic:
    """The file's text, or a diagnostic saying why it cannot be read."""
    name = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        return Diagnostic(name, 0, 0, Severity.ERROR, f"cannot read the file: {reason}")
    return decode_source(name, data)


def decode_source(name: str, data: bytes) -> Source | Diagnostic:
    """UTF-8 text (a byte-order mark is dropped), or a diagnostic at the first bad byte."""
    try:
        return Source(name, data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        start = error.start
        line_start = data.rfind(b"\n", 0, start) + 1
        line_end = data.find(b"\n", start)
        line = data[line_start : line_end if line_end >= 0 else len(data)]
        return Diagnostic(
            name,
            data.count(b"\n", 0, start) + 1,
            start - line_start + 1,
            Severity.ERROR,
            f"the file is not UTF-8 text: byte 0x{data[start]:02x} cannot be decoded",
            "save the file with the UTF-8 encoding",
            line.decode("utf-8", errors="replace"),
        )


class _TooDeep(Exception):
    pass


class _DepthLimit:
    """Stops composing past MAX_YAML_DEPTH. Both composers call these two hooks around
    every node; the resolver's own versions only serve path resolvers, which are unused."""

    _depth = 0

    def descend_resolver(self, current_node: yaml.Node | None, current_index: object) -> None:
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise _TooDeep

    def ascend_resolver(self) -> None:
        self._depth -= 1


class _FastLoader(_DepthLimit, _FAST_LOADER):  # type: ignore[misc, valid-type]
    # YAML 1.2 booleans, as everywhere in labrun: `yes` and `no` stay text.
    yaml_implicit_resolvers = _yaml.SafeLoader.yaml_implicit_resolvers


class _PureLoader(_DepthLimit, _yaml.SafeLoader):
    pass


def compose(source: Source) -> yaml.Node | list[Diagnostic] | None:
    """The document's root node (None when it is empty), or why it is not YAML."""
    try:
        return yaml.compose(source.text, Loader=_FastLoader)
    except _TooDeep:
        message = f"the document is nested more than {MAX_YAML_DEPTH} levels deep"
        return [source.diagnostic(1, 1, message)]
    except UnicodeEncodeError as error:
        # A str from a caller (never from a file, which is decoded first) may hold lone
        # surrogates, which are not Unicode text; libyaml fails to encode them.
        line = source.text.count("\n", 0, error.start) + 1
        column = error.start - source.text.rfind("\n", 0, error.start)
        message = f"not a Unicode text: U+{ord(source.text[error.start]):04X} is a lone surrogate"
        return [source.diagnostic(line, column, message)]
    except yaml.YAMLError as error:
        first_error = error
    if _FAST_LOADER is not yaml.SafeLoader:
        try:
            yaml.compose(source.text, Loader=_PureLoader)
        except yaml.YAMLError as error:
            first_error = error
        except (_TooDeep, RecursionError):
            pass
    return _yaml_problems(source, first_error)


def _yaml_problems(source: Source, error: yaml.YAMLError) -> list[Diagnostic]:
    tabs = [match.end() for match in _LEADING_TAB.finditer(source.text)]
    if tabs:
        return [
            source.diagnostic(
                source.text.count("\n", 0, end) + 1,
                end - source.text.rfind("\n", 0, end) - 1,
                "tab character in indentation",
                "YAML indents with spaces only; replace the tab with spaces",
            )
            for end in tabs
        ]
    if isinstance(error, yaml.reader.ReaderError):
        offset = error.position
        line = source.text.count("\n", 0, offset) + 1
        column = offset - source.text.rfind("\n", 0, offset)
        code = f"U+{error.character:04X}" if isinstance(error.character, int) else "a byte"
        return [
            source.diagnostic(line, column, f"not a YAML text: the character {code} is not allowed")
        ]
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message, hint = _describe(error)
        return [source.diagnostic(line, column, message, hint)]
    return [source.diagnostic(1, 1, f"not a YAML text: {error}")]


def _describe(error: yaml.MarkedYAMLError) -> tuple[str, str | None]:
    """A message and hint for a YAML syntax error, in the words of protocol writers."""
    problem = error.problem or "invalid YAML"
    context = error.context or ""
    if problem.startswith("expected <block end>, but found") and context in _BLOCK_KIND:
        found = problem.rsplit("found ", 1)[1].strip("'")
        thing = _TOKEN_NAME.get(found, found)
        started = error.context_mark
        where = f" that starts at line {started.line + 1}" if started else ""
        return (
            f"bad indentation: this {thing} does not line up with the "
            f"{_BLOCK_KIND[context]}{where}",
            "items of one list, and keys of one mapping, start in the same column",
        )
    if problem == "mapping values are not allowed here":
        return (
            "bad indentation or a stray ':': a mapping value is not allowed here",
            "indent nested keys under their parent, and quote text that contains ': '",
        )
    if problem == "but found another document":
        return ("a protocol file holds one YAML document; a second one starts here", None)
    text = f"{context}: {problem}" if context else problem
    return (f"invalid YAML: {text}", None)
