"""Protocol parameters: declared once in the file, given values when a run starts.

A parameter has a `type` (int, float, str, bool) or a `unit`, whose dimension its values
must have (`unit: degC` takes `37 degC` or `310 K`); optionally a default, `min` / `max`,
`choices` and a description. Values come typed (from YAML or JSON) or as text typed on a
command line (`-p temp=37degC`); both go through `Parameter.convert`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any

import pint
import yaml
from pydantic import TypeAdapter, ValidationError

from labrun.protocol._reader import Reader, describe, did_you_mean
from labrun.protocol.reference import NAME, format_value
from labrun.protocol.source import Position
from labrun.quantity import Quantity, QuantityError, QuantityType, parse_quantity

_INTEGER = re.compile(r"[+-]?[0-9]+")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_KEYS = frozenset({"type", "unit", "default", "min", "max", "choices", "description"})


class Kind(StrEnum):
    INT = "int"
    FLOAT = "float"
    STR = "str"
    BOOL = "bool"
    QUANTITY = "quantity"


_LABELS = {
    Kind.INT: "an integer",
    Kind.FLOAT: "a number",
    Kind.STR: "text",
    Kind.BOOL: "true or false",
}
_SAMPLES: dict[Kind, Any] = {Kind.INT: 1, Kind.FLOAT: 1.0, Kind.STR: "text", Kind.BOOL: True}


class ParameterError(ValueError):
    """Parameter values that cannot be used; `problems` says what is wrong with each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: Kind
    unit: str | None = None
    has_default: bool = False
    default: Any = None
    minimum: Any = None
    maximum: Any = None
    choices: tuple[Any, ...] | None = None
    description: str = ""
    position: Position | None = None

    @cached_property
    def _quantity(self) -> QuantityType:
        assert self.unit is not None
        dimensionality = parse_quantity(f"1 {self.unit}").dimensionality
        return QuantityType(str(dimensionality) if dimensionality else "[]")

    @cached_property
    def _adapter(self) -> TypeAdapter[Quantity]:
        return TypeAdapter(Annotated[Quantity, self._quantity])

    @property
    def label(self) -> str:
        """What a value is, for messages: "an integer", "a temperature"."""
        if self.kind is Kind.QUANTITY:
            label = self._quantity.label
            return f"{'an' if label[0] in 'aeiou' else 'a'} {label}"
        return _LABELS[self.kind]

    def convert(self, value: Any) -> Any:
        """The value as this parameter holds it; ValueError says what is wrong."""
        converted = self.coerce(value)
        if self.choices is not None and converted not in self.choices:
            choices = ", ".join(format_value(choice) for choice in self.choices)
            raise ValueError(f"{format_value(converted)} is not one of: {choices}")
        if self.minimum is not None and _below(converted, self.minimum):
            raise ValueError(
                f"{format_value(converted)} is below the minimum {format_value(self.minimum)}"
            )
        if self.maximum is not None and _below(self.maximum, converted):
            raise ValueError(
                f"{format_value(converted)} is above the maximum {format_value(self.maximum)}"
            )
        return converted

    def coerce(self, value: Any) -> Any:
        """The value in this parameter's type, not yet checked against bounds and choices."""
        kind = self.kind
        if kind is Kind.QUANTITY:
            try:
                return self._adapter.validate_python(value)
            except ValidationError as error:
                raise ValueError(error.errors()[0]["msg"]) from None
        if isinstance(value, str) and kind is not Kind.STR:
            return self._from_text(value.strip())
        if kind is Kind.INT and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is Kind.FLOAT and isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
        elif (kind is Kind.STR and isinstance(value, str)) or (
            kind is Kind.BOOL and isinstance(value, bool)
        ):
            return value
        raise ValueError(f"expected {self.label}, got {format_value(value)}")

    def _from_text(self, text: str) -> Any:
        if self.kind is Kind.INT and _INTEGER.fullmatch(text):
            return int(text)
        if self.kind is Kind.FLOAT:
            try:
                number = float(text)
            except ValueError:
                pass
            else:
                if math.isfinite(number):
                    return number
        if self.kind is Kind.BOOL and text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ValueError(f"expected {self.label}, got {text!r}")

    def sample(self) -> Any:
        """A value to check the protocol with: the default, else one the declaration allows."""
        if self.has_default:
            return self.default
        if self.choices:
            return self.choices[0]
        for bound in (self.minimum, self.maximum):
            if bound is not None:
                return bound
        if self.kind is Kind.QUANTITY:
            assert self.unit is not None
            return parse_quantity(f"1 {self.unit}")
        return _SAMPLES[self.kind]

    def summary(self) -> str:
        """One line, such as `a temperature (degC), default 37 °C, from 20 °C to 95 °C`."""
        parts = [f"{self.label} ({self.unit})" if self.unit else self.label]
        parts.append(f"default {format_value(self.default)}" if self.has_default else "required")
        if self.choices is not None:
            parts.append("one of " + ", ".join(format_value(choice) for choice in self.choices))
        if self.minimum is not None:
            parts.append(f"min {format_value(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"max {format_value(self.maximum)}")
        return ", ".join(parts)


def _below(a: Any, b: Any) -> bool:
    if isinstance(a, pint.Quantity) and isinstance(b, pint.Quantity):
        return bool(a.m_as(b.units) < b.magnitude)
    return bool(a < b)


def bind(parameters: Mapping[str, Parameter], values: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter's value: the given ones converted, the others their defaults."""
    problems: list[str] = []
    for name in values:
        if name not in parameters:
            hint = did_you_mean(name, parameters)
            known = ", ".join(parameters) or "none"
            problems.append(
                f"unknown parameter '{name}'; "
                + (f"{hint} " if hint else "")
                + f"parameters are: {known}"
            )
    bound: dict[str, Any] = {}
    for name, parameter in parameters.items():
        if name in values:
            try:
                bound[name] = parameter.convert(values[name])
            except ValueError as error:
                problems.append(f"{name}: {error}")
        elif parameter.has_default:
            bound[name] = parameter.default
        else:
            problems.append(f"{name}: no value given, and the parameter has no default")
    if problems:
        raise ParameterError(problems)
    return bound


def parse_assignments(texts: Iterable[str]) -> dict[str, str]:
    """`NAME=VALUE` pairs, as typed after `-p` on a command line."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for text in texts:
        name, equals, value = text.partition("=")
        name = name.strip()
        if not equals or not name:
            problems.append(f"expected NAME=VALUE, got {text!r}")
        elif name in values:
            problems.append(f"parameter '{name}' is given twice")
        else:
            values[name] = value.strip()
    if problems:
        raise ParameterError(problems)
    return values


def read_parameters(reader: Reader, node: yaml.Node) -> dict[str, Parameter]:
    """The `parameters:` section; problems are reported and their parameters left out."""
    declared = reader.mapping(node, "parameters")
    parameters: dict[str, Parameter] = {}
    for name, (key_node, value_node) in (declared or {}).items():
        if not NAME.fullmatch(name):
            reader.error(
                key_node,
                f"invalid parameter name '{name}'",
                "a name is letters, digits and _, and does not start with a digit",
            )
            continue
        parameter = _read_one(reader, name, key_node, value_node)
        if parameter is not None:
            parameters[name] = parameter
    return parameters


def _read_one(reader: Reader, name: str, key_node: yaml.Node, node: yaml.Node) -> Parameter | None:
    fields = reader.mapping(node, f"parameter '{name}'")
    if fields is None:
        return None
    for key, (field_key, _) in fields.items():
        if key not in _KEYS:
            reader.unknown_key(field_key, key, _KEYS)
    start = reader.error_count
    kind, unit = _read_kind(reader, name, key_node, fields)
    if kind is None:
        return None
    base = Parameter(name, kind, unit, position=reader.position(key_node))
    minimum = _value(reader, base, fields.get("min"))
    maximum = _value(reader, base, fields.get("max"))
    choices = _choices(reader, base, fields.get("choices"))
    if kind in (Kind.STR, Kind.BOOL):
        for bound in ("min", "max"):
            if bound in fields:
                reader.error(fields[bound][0], f"{kind} parameters take no {bound}")
    if minimum is not None and maximum is not None and _below(maximum, minimum):
        reader.error(
            fields["max"][1], f"max {format_value(maximum)} is below min {format_value(minimum)}"
        )
    description = ""
    if "description" in fields:
        description = reader.text(fields["description"][1], "a description") or ""
    bounded = Parameter(
        name,
        kind,
        unit,
        minimum=minimum,
        maximum=maximum,
        choices=choices,
        description=description,
        position=base.position,
    )
    has_default = "default" in fields
    default = None
    if has_default:
        default_node = fields["default"][1]
        default = _value(reader, base, default_node)
        if default is not None:
            try:
                bounded.convert(default)
            except ValueError as error:
                reader.error(default_node, f"bad default for '{name}': {error}")
    if reader.error_count > start:
        return None
    return Parameter(
        name,
        kind,
        unit,
        has_default,
        default,
        minimum,
        maximum,
        choices,
        description,
        base.position,
    )


def _read_kind(
    reader: Reader,
    name: str,
    key_node: yaml.Node,
    fields: Mapping[str, tuple[yaml.Node, yaml.Node]],
) -> tuple[Kind | None, str | None]:
    if "type" in fields and "unit" in fields:
        reader.error(
            fields["unit"][0], f"parameter '{name}' has both a type and a unit", "keep one"
        )
        return None, None
    if "unit" in fields:
        unit_node = fields["unit"][1]
        unit = reader.text(unit_node, "a unit")
        if unit is None:
            return None, None
        try:
            parse_quantity(f"1 {unit}")
        except QuantityError as error:
            reader.error(unit_node, f"bad unit for '{name}': {error.reason}")
            return None, None
        return Kind.QUANTITY, unit
    if "type" in fields:
        type_node = fields["type"][1]
        text = reader.text(type_node, "a type")
        kinds = [kind.value for kind in Kind if kind is not Kind.QUANTITY]
        if text in kinds:
            return Kind(text), None
        if text is not None:
            hint = did_you_mean(text, kinds)
            listing = f"types are {', '.join(kinds)}; a quantity is declared with a unit"
            reader.error(
                type_node, f"unknown type '{text}'", f"{hint} {listing}" if hint else listing
            )
        return None, None
    reader.error(
        key_node,
        f"parameter '{name}' needs a type or a unit",
        "add 'type: int' (or float, str, bool), or a unit such as 'unit: degC'",
    )
    return None, None


def _value(reader: Reader, parameter: Parameter, entry: Any) -> Any:
    """A declared value (default, bound, choice) converted, or None when it is wrong."""
    if entry is None:
        return None
    node = entry if isinstance(entry, yaml.Node) else entry[1]
    if not isinstance(node, yaml.ScalarNode):
        reader.error(node, f"expected {parameter.label}, got {describe(node)}")
        return None
    ok, value = reader.scalar(node)
    if not ok:
        return None
    try:
        return parameter.coerce(value)
    except ValueError as error:
        hint = None
        if parameter.kind is Kind.STR and value is not None:
            hint = f"quote it to make it text: '{node.value}'"
        reader.error(node, str(error), hint)
        return None


def _choices(reader: Reader, parameter: Parameter, entry: Any) -> tuple[Any, ...] | None:
    if entry is None:
        return None
    nodes = reader.sequence(entry[1], "choices")
    if nodes is None:
        return None
    if not nodes:
        reader.error(entry[1], "choices cannot be empty")
        return None
    values = [_value(reader, parameter, node) for node in nodes]
    if any(value is None for value in values):
        return None
    return tuple(values)
