"""A YAML document as plain values, with the place of every key and value they came from.

Pydantic validates plain values and reports each problem by its `loc`, a path into them; the
index kept here turns that path back into the line and column of a key or a value, and the
error into a diagnostic. The YAML is composed and read as protocol files are
(labrun.protocol.source and its reader): same positions, same YAML 1.2 booleans, same
messages for duplicate keys, tabs and syntax errors.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import yaml
from pydantic import BaseModel
from pydantic_core import ErrorDetails, PydanticCustomError

from labrun.protocol._reader import Reader, TooLarge, describe
from labrun.protocol.diagnostic import Diagnostic, Severity
from labrun.protocol.source import Source, compose

Loc = tuple[str | int, ...]
Hints = Callable[[Loc], str | None]

# A configuration is a few devices of a few keys each; these bounds only stop a hostile or
# broken file (aliases that expand a small file into a huge tree, runaway nesting), and keep
# the recursive walk far from Python's recursion limit.
MAX_NODES = 100_000
MAX_DEPTH = 32

_SAFE_TAGS = frozenset(yaml.SafeLoader.yaml_constructors) - {None}
_NULL = "tag:yaml.org,2002:null"
_INVALID = "labrun_invalid"


def invalid(message: str, hint: str | None = None, *, key: str | None = None) -> Exception:
    """The error for a validator to raise: its message and hint are shown as they are, and
    `key` names the key to point at when a whole mapping is wrong because of one key."""
    # The message is given as context, not as the template: pydantic would fill in any
    # {placeholder} that text from the file happens to contain.
    return PydanticCustomError(
        _INVALID, "{message}", {"hint": hint, "key": key, "message": message}
    )


@dataclass(frozen=True, slots=True)
class Entry:
    """A value's node, and its key's node when it is a mapping's value."""

    key: yaml.Node | None
    value: yaml.Node


@dataclass(frozen=True)
class Document:
    """The plain value of a document (None when it is empty), where each part of it is, and
    the problems met while reading it (duplicate keys, tags, ...)."""

    source: Source
    value: Any
    index: Mapping[Loc, Entry]
    problems: tuple[Diagnostic, ...]

    def find(self, loc: Sequence[str | int]) -> tuple[Loc, Entry | None]:
        """The longest leading part of `loc` that is in the document, and its entry."""
        path = tuple(loc)
        while path not in self.index and path:
            path = path[:-1]
        return path, self.index.get(path)

    def problem(self, node: yaml.Node | None, message: str, hint: str | None = None) -> Diagnostic:
        """A problem at `node`, or about the whole file when there is no node."""
        if node is None:
            return Diagnostic(self.source.name, 0, 0, Severity.ERROR, message, hint)
        mark = node.start_mark
        return self.source.diagnostic(mark.line + 1, mark.column + 1, message, hint)

    def at(
        self, loc: Sequence[str | int], message: str, hint: str | None, *, key: bool
    ) -> Diagnostic:
        """A problem on the value at `loc`, or on its key; on the key of the nearest enclosing
        part written in the file when `loc` is not there."""
        found, entry = self.find(loc)
        return self.problem(_node(entry, key=key or found != tuple(loc)), message, hint)

    def diagnostic(
        self, error: ErrorDetails, model: type[BaseModel], *, prefix: Loc = (), hints: Hints
    ) -> Diagnostic:
        """A pydantic error of `model`, validating the value at `prefix`, as a diagnostic on
        the key or value it is about; `hints` gives the hint for a path, if any."""
        relative = tuple(error["loc"])
        on_key = bool(relative) and relative[-1] == "[key]"
        loc = prefix + (relative[:-1] if on_key else relative)
        kind = error["type"]
        ctx = error.get("ctx") or {}
        found, entry = self.find(loc)
        # A key at fault is named by the mapping that holds it.
        where = _dotted(found[:-1] if on_key else found)
        last = loc[-1] if loc else ""
        hint = hints(loc)
        if kind == _INVALID:
            message, hint = ctx["message"], ctx.get("hint")
            if ctx.get("key"):
                found, entry = self.find((*loc, ctx["key"]))
                on_key = True
        elif kind == "extra_forbidden":
            message = f"unknown key '{last}'"
            where = _dotted(loc[:-1])
            hint = _allowed_keys(model, relative[:-1], str(last))
        elif kind == "missing":
            message = f"'{last}' is required"
            where = _dotted(loc[:-1])
        elif kind in ("model_type", "dict_type"):
            message = f"must be a mapping, got {describe(entry.value) if entry else 'nothing'}"
        else:
            message = _lower(error["msg"])
        node = _node(entry, key=on_key or kind in ("extra_forbidden", "missing"))
        return self.problem(node, f"{where}: {message}" if where else message, hint)


def read(source: Source) -> Document | list[Diagnostic]:
    """The document in `source`, or why it is not YAML."""
    root = compose(source)
    if isinstance(root, list):
        return root
    walker = _Walker(source)
    value: Any = None
    if root is not None:
        try:
            value = walker.value(root, (), None)
        except TooLarge:
            walker.index.clear()
            message = f"the file is too large: more than {MAX_NODES} YAML nodes once aliases expand"
            walker.reader.error(root, message)
            value = None
    return Document(source, value, walker.index, tuple(walker.reader.diagnostics))


class _Walker:
    def __init__(self, source: Source) -> None:
        self.reader = Reader(source)
        self.index: dict[Loc, Entry] = {}
        self._nodes = 0

    def value(self, node: yaml.Node, loc: Loc, key: yaml.Node | None) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise TooLarge
        self.index[loc] = Entry(key, node)
        what = _dotted(loc) or "the file"
        if len(loc) > MAX_DEPTH:
            self.reader.error(node, f"{what} is nested more than {MAX_DEPTH} levels deep")
            return None
        if isinstance(node, yaml.MappingNode):
            items = self.reader.mapping(node, what)
            if items is None:
                return None
            return {
                name: self.value(value_node, (*loc, name), key_node)
                for name, (key_node, value_node) in items.items()
            }
        if isinstance(node, yaml.SequenceNode):
            nodes = self.reader.sequence(node, what)
            if nodes is None:
                return None
            return [self.value(item, (*loc, index), None) for index, item in enumerate(nodes)]
        if not isinstance(node, yaml.ScalarNode) or node.tag not in _SAFE_TAGS:
            self.reader.error(node, f"unsupported tag {node.tag}", "write plain YAML values")
            return None
        _, value = self.reader.scalar(node)
        return value


def _node(entry: Entry | None, *, key: bool) -> yaml.Node | None:
    """The key or the value of `entry`; the key for a value left empty (`pump:`), which has
    no text to point at."""
    if entry is None:
        return None
    value = entry.value
    empty = isinstance(value, yaml.ScalarNode) and value.tag == _NULL and value.value == ""
    if (key or empty) and entry.key is not None:
        return entry.key
    return value


def _allowed_keys(model: type[BaseModel], loc: Loc, key: str) -> str | None:
    target = _model_at(model, loc)
    if target is None:
        return None
    fields = target.model_fields
    if not fields:
        return "no keys are allowed here"
    # Required keys first: they are the ones a reader is most likely to have misspelt.
    names = sorted(fields, key=lambda name: not fields[name].is_required())
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    allowed = f"allowed keys: {', '.join(names)}"
    return f"did you mean {close[0]}? {allowed}" if close else allowed


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model that validates the mapping at `loc`, found through the field annotations."""
    current: Any = model
    for part in loc:
        found = _model_in(current)
        if found is not None and isinstance(part, str) and part in found.model_fields:
            current = found.model_fields[part].annotation
        elif typing.get_origin(current) in (dict, Mapping):
            current = typing.get_args(current)[1]
        else:
            return None
    return _model_in(current)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model in `annotation` (`Model`, `Model | None`, `Annotated[Model, ...]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType, Annotated):
        return None
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _dotted(loc: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in loc)


def _lower(message: str) -> str:
    """Pydantic's sentence as the continuation of ours, keeping acronyms (URL) as they are."""
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if len(message) > 1 and message[0].isupper() and message[1].islower():
        return message[0].lower() + message[1:]
    return message
