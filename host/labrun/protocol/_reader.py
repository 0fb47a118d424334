"""The reader: what every part of the compiler shares while it walks the YAML nodes.

It records diagnostics at node positions, turns scalar nodes into Python values with
PyYAML's own constructors, and counts the nodes walked: aliases make a small file stand for
a huge tree (the "billion laughs"), so the walk stops once a budget is spent.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from typing import Any

import yaml

from labrun.protocol.diagnostic import Diagnostic, Severity
from labrun.protocol.source import Position, Source

MAX_NODES = 1_000_000
MAX_NESTING = 64

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"


class TooLarge(Exception):
    """The node budget is spent; the walk stops and reports it once."""


class Reader:
    def __init__(self, source: Source) -> None:
        self.source = source
        self._name = source.name
        self.diagnostics: list[Diagnostic] = []
        self._constructor = yaml.SafeLoader("")
        self._nodes = 0
        self.error_count = 0

    def position(self, node: yaml.Node) -> Position:
        mark = node.start_mark
        return Position(self._name, mark.line + 1, mark.column + 1)

    def error(self, node: yaml.Node | Position, message: str, hint: str | None = None) -> None:
        self._add(node, Severity.ERROR, message, hint)

    def warning(self, node: yaml.Node | Position, message: str, hint: str | None = None) -> None:
        self._add(node, Severity.WARNING, message, hint)

    def _add(
        self, at: yaml.Node | Position, severity: Severity, message: str, hint: str | None
    ) -> None:
        position = at if isinstance(at, Position) else self.position(at)
        line = self.source.line(position.line)
        if severity is Severity.ERROR:
            self.error_count += 1
        self.diagnostics.append(
            Diagnostic(position.file, position.line, position.column, severity, message, hint, line)
        )

    @property
    def failed(self) -> bool:
        return self.error_count > 0

    def visit(self, count: int = 1) -> None:
        self._nodes += count
        if self._nodes > MAX_NODES:
            raise TooLarge

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """The keys of a mapping node; duplicate and non-text keys are reported and left out."""
        if not isinstance(node, yaml.MappingNode) or node.tag != _MAP:
            self.error(node, f"{what} must be a mapping of keys to values, got {describe(node)}")
            return None
        items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        self.visit(len(node.value))
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.error(key_node, "merge keys (<<) are not supported; write the keys out")
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                self.error(key_node, f"a key must be text, got {describe(key_node)}")
                continue
            key = key_node.value
            if key in items:
                first = self.position(items[key][0])
                self.error(
                    key_node,
                    f"duplicate key '{key}'",
                    f"'{key}' is first given at line {first.line}",
                )
                continue
            items[key] = (key_node, value_node)
        return items

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node] | None:
        if not isinstance(node, yaml.SequenceNode) or node.tag != _SEQ:
            self.error(node, f"{what} must be a list, got {describe(node)}")
            return None
        self.visit(len(node.value))
        return list(node.value)

    def scalar(self, node: yaml.ScalarNode) -> tuple[bool, Any]:
        """(True, value) for a scalar PyYAML's safe loader reads, else (False, None) reported."""
        if node.tag == _STR:
            return True, node.value
        construct = self._constructor.yaml_constructors.get(node.tag)
        if construct is None or node.tag in (_SEQ, _MAP):
            self.error(node, f"unsupported tag {node.tag}", "protocols use plain YAML values")
            return False, None
        try:
            return True, construct(self._constructor, node)
        except (yaml.YAMLError, ValueError, TypeError) as error:
            self.error(node, f"cannot read the value {node.value!r}: {_reason(error)}")
            return False, None

    def text(self, node: yaml.Node, what: str) -> str | None:
        """A scalar as text: names and descriptions may be written as numbers too."""
        if isinstance(node, yaml.ScalarNode):
            ok, value = self.scalar(node)
            if ok and value is not None and not isinstance(value, bool | list | dict):
                return value if isinstance(value, str) else str(node.value)
            if not ok:
                return None
        self.error(node, f"{what} must be text, got {describe(node)}")
        return None

    def unknown_key(self, key_node: yaml.Node, key: str, known: Collection[str]) -> None:
        hint = did_you_mean(key, known) or f"expected one of: {', '.join(sorted(known))}"
        self.error(key_node, f"unknown key '{key}'", hint)


def describe(node: yaml.Node) -> str:
    """What a node is, for messages: a list, a mapping, nothing, or its text."""
    if isinstance(node, yaml.SequenceNode | yaml.MappingNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
        return kind if node.tag in (_SEQ, _MAP) else f"{kind} tagged {node.tag}"
    if node.tag == "tag:yaml.org,2002:null":
        return "nothing"
    text = node.value if len(node.value) <= 40 else node.value[:37] + "..."
    return repr(text)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else None


def _reason(error: Exception) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem:
        return error.problem
    return str(error).split("\n", 1)[0]
