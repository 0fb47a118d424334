"""Argument templates: argument values with `${name}` references still in them.

A scalar that is exactly `${name}` stands for the value itself (a quantity stays a
quantity); a reference inside longer text is replaced by the value written out
(`"Set the bath to ${temp}"`); `$${` writes a literal `${`. A name is a parameter or a sweep
variable; nothing is ever evaluated, so `${a + 1}` is refused.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pint
import yaml

from labrun.protocol._reader import MAX_NESTING, Reader, did_you_mean
from labrun.protocol.source import Position
from labrun.quantity import format_quantity

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}")


@dataclass(frozen=True, slots=True)
class Const:
    value: Any
    position: Position
    # How a value YAML did not read as text was written (`yes`, `1.10`), for hints.
    written: str | None = None

    def resolve(self, env: Mapping[str, Any]) -> Any:
        return self.value

    def key(self, env: Mapping[str, Any]) -> Hashable:
        return freeze(self.value)

    def show(self) -> str:
        return format_value(self.value)


@dataclass(frozen=True, slots=True)
class Ref:
    """A scalar that is exactly one reference: it resolves to the value, unconverted."""

    name: str
    position: Position

    def resolve(self, env: Mapping[str, Any]) -> Any:
        return lookup(env, self.name)

    def key(self, env: Mapping[str, Any]) -> Hashable:
        return freeze(lookup(env, self.name))

    def show(self) -> str:
        return f"${{{self.name}}}"


@dataclass(frozen=True, slots=True)
class Text:
    """Text with references in it; `parts` alternate literal text and `Ref`s."""

    parts: tuple[str | Ref, ...]
    position: Position

    def resolve(self, env: Mapping[str, Any]) -> str:
        return "".join(
            part if isinstance(part, str) else format_value(lookup(env, part.name))
            for part in self.parts
        )

    def key(self, env: Mapping[str, Any]) -> Hashable:
        return tuple(
            part if isinstance(part, str) else freeze(lookup(env, part.name)) for part in self.parts
        )

    def show(self) -> str:
        return "".join(
            part.replace("${", "$${") if isinstance(part, str) else part.show()
            for part in self.parts
        )


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Template, ...]
    position: Position

    def resolve(self, env: Mapping[str, Any]) -> list[Any]:
        return [item.resolve(env) for item in self.items]

    def key(self, env: Mapping[str, Any]) -> Hashable:
        return ("list", tuple(item.key(env) for item in self.items))

    def show(self) -> str:
        return "[" + ", ".join(item.show() for item in self.items) + "]"


@dataclass(frozen=True, slots=True)
class MapOf:
    items: tuple[tuple[str, Template], ...]
    position: Position
    # Where each key is written, for messages about the key itself.
    keys: tuple[Position, ...] = ()

    def resolve(self, env: Mapping[str, Any]) -> dict[str, Any]:
        return {key: value.resolve(env) for key, value in self.items}

    def key(self, env: Mapping[str, Any]) -> Hashable:
        """Equal for two templates that resolve to equal arguments, without resolving."""
        return ("dict", tuple((key, value.key(env)) for key, value in self.items))

    def show(self) -> str:
        return "{" + ", ".join(f"{key}: {value.show()}" for key, value in self.items) + "}"

    def get(self, key: str) -> Template | None:
        return next((value for name, value in self.items if name == key), None)


Template = Const | Ref | Text | ListOf | MapOf


# The types `freeze` keys by type name and value; bool and int, 1 and 1.0 hash alike but
# validate differently.
_PLAIN = (str, bytes, int, float, bool, date)


def freeze(value: Any) -> Hashable:
    """A hashable stand-in for a value, equal only for values that validate alike."""
    if type(value) is str:  # by far the most common, checked first
        return ("str", value)
    if isinstance(value, pint.Quantity):
        # The units container, not `.units`: that builds a Unit object at every call.
        return ("quantity", value.magnitude, value._units)
    if isinstance(value, dict):
        return ("dict", tuple((key, freeze(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return ("list", tuple(freeze(item) for item in value))
    if isinstance(value, _PLAIN) or value is None:
        return (type(value).__name__, value)
    return ("object", id(value))


def lookup(env: Mapping[str, Any], name: str) -> Any:
    try:
        return env[name]
    except KeyError:
        raise LookupError(f"no value for ${{{name}}}") from None


def format_value(value: Any) -> str:
    """How a value is written into text: quantities in their short form, YAML's booleans."""
    if isinstance(value, pint.Quantity):
        return format_quantity(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def references(template: Template) -> Iterator[Ref]:
    """Every reference in the template, in document order."""
    if isinstance(template, Ref):
        yield template
    elif isinstance(template, Text):
        yield from (part for part in template.parts if isinstance(part, Ref))
    elif isinstance(template, ListOf):
        for item in template.items:
            yield from references(item)
    elif isinstance(template, MapOf):
        for _, value in template.items:
            yield from references(value)


def locate(template: Template, loc: tuple[int | str, ...]) -> Template:
    """The innermost template along a pydantic error location."""
    for part in loc:
        if isinstance(template, MapOf) and isinstance(part, str):
            child = template.get(part)
        elif isinstance(template, ListOf) and isinstance(part, int) and part < len(template.items):
            child = template.items[part]
        else:
            child = None
        if child is None:
            break
        template = child
    return template


class TemplateBuilder:
    """Builds templates from YAML nodes, checking each reference against the names in scope."""

    def __init__(self, reader: Reader, parameters: Mapping[str, object]) -> None:
        self._reader = reader
        self._parameters = parameters
        # Counts the references built, so a caller tells at once whether a value had any.
        self.references_made = 0

    def build(
        self, node: yaml.Node, variables: Mapping[str, object], depth: int = 0
    ) -> Template | None:
        """The template of `node`, or None when it has a problem (reported)."""
        reader = self._reader
        position = reader.position(node)
        if depth > MAX_NESTING:
            reader.error(node, f"the value is nested more than {MAX_NESTING} levels deep")
            return None
        if isinstance(node, yaml.ScalarNode):
            ok, value = reader.scalar(node)
            if not ok:
                return None
            if isinstance(value, str) and "${" in value:
                return self._text(node, value, variables)
            return Const(value, position, None if isinstance(value, str) else node.value)
        if isinstance(node, yaml.SequenceNode):
            nodes = reader.sequence(node, "a value")
            if nodes is None:
                return None
            items = [self.build(item, variables, depth + 1) for item in nodes]
            if any(item is None for item in items):
                return None
            return ListOf(tuple(item for item in items if item is not None), position)
        mapping = reader.mapping(node, "a value")
        if mapping is None:
            return None
        pairs = [
            (key, self.build(value, variables, depth + 1)) for key, (_, value) in mapping.items()
        ]
        if any(value is None for _, value in pairs):
            return None
        return MapOf(
            tuple((key, value) for key, value in pairs if value is not None),
            position,
            tuple(reader.position(key_node) for key_node, _ in mapping.values()),
        )

    def _text(self, node: yaml.Node, text: str, variables: Mapping[str, object]) -> Template | None:
        position = self._reader.position(node)
        parts: list[str | Ref] = []
        end = 0
        ok = True
        for match in _TOKEN.finditer(text):
            literal = text[end : match.start()]
            end = match.end()
            if match.group(0) == "$${":
                parts.append(literal + "${")
                continue
            parts.append(literal)
            name = match.group(1).strip()
            if not self.check_name(node, name, match.group(0), variables):
                ok = False
            parts.append(Ref(name, position))
            self.references_made += 1
        rest = text[end:]
        if "${" in rest:
            self._reader.error(
                node,
                f"unclosed reference in {text!r}",
                "close it with '}', or write $${ for a literal ${",
            )
            return None
        parts.append(rest)
        if not ok:
            return None
        merged = _merge(parts)
        if len(merged) == 1 and isinstance(merged[0], Ref):
            return merged[0]
        if all(isinstance(part, str) for part in merged):
            return Const("".join(part for part in merged if isinstance(part, str)), position)
        return Text(tuple(merged), position)

    def check_name(
        self, node: yaml.Node, name: str, written: str, variables: Mapping[str, object]
    ) -> bool:
        """Whether `name` is a valid name in scope; reports it when it is not."""
        if not NAME.fullmatch(name):
            self._reader.error(
                node,
                f"invalid reference {written}",
                "a reference names a parameter or a sweep variable, as in ${temp}; "
                "expressions are not evaluated",
            )
            return False
        if name in variables or name in self._parameters:
            return True
        hint = did_you_mean(name, [*self._parameters, *variables])
        parameters = ", ".join(self._parameters) or "none"
        listing = f"parameters are: {parameters}"
        if variables:
            listing += f"; sweep variables here: {', '.join(variables)}"
        self._reader.error(
            node, f"unknown parameter '{name}'", f"{hint} {listing}" if hint else listing
        )
        return False


def _merge(parts: list[str | Ref]) -> list[str | Ref]:
    """Adjacent literal parts joined and empty ones dropped."""
    merged: list[str | Ref] = []
    for part in parts:
        if isinstance(part, str):
            if not part:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] += part
                continue
        merged.append(part)
    return merged
