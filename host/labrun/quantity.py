"""Physical quantities (pint) as pydantic field types for instrument arguments.

    class InfuseArgs(BaseModel):
        volume: Volume = Field(default="5 ml", validate_default=True)
        rate: Annotated[FlowRate, Bounds(gt="0 ul/min", le="10 ml/min")]
        target: Annotated[Quantity, QuantityType("[temperature]", ge="4 degC", le="95 degC")]
        area: Annotated[Quantity, QuantityType("[length] ** 2", name="area")]

Bound a ready-made alias with `Bounds`; `QuantityType` takes the same bounds for its own
dimension. A later `QuantityType` in the same Annotated replaces an earlier one, not refines it.
Give defaults as text with validate_default: that keeps the registry unbuilt until needed and
puts the default in JSON Schema, where pydantic cannot write a pint default (it warns).

Fields accept text ("37 degC", "37 °C", "5 ul/min"), a pint quantity from any registry, or
{"magnitude": 37, "units": "degree_Celsius"}, the form JSON dumps produce; Python dumps keep the
quantity. Bare numbers are rejected. Magnitudes become plain finite ints or floats and offset
units stay as given. Bounds compare in the bound's units, so "40 degF" passes ge="4 degC".
Bad dimensions or bounds raise TypeError at first use, as the registry is only built then.
Unit text is kept to 100 characters and exponents to literals below 100, not raised again: pint
evaluates it as arithmetic, and "m*9**9**9" would otherwise hang the process.

`format_quantity` writes pint's abbreviated pretty units after the shortest exact number
("37 °C", "5 µl/min", "2 h", "1.5 m²"), which `parse_quantity` reads back, except that a
unitless quantity comes out as a bare number.
"""

from __future__ import annotations

import functools
import operator
import re
import string
import sys
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any, TypeAlias

import pint
from pint.util import UnitsContainer, string_preprocessor
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

# pint's magnitude type variable is invariant, and magnitudes here are ints or floats.
Quantity: TypeAlias = pint.Quantity[Any]

_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_SPLIT = re.compile(rf"\s*(?P<number>{_NUMBER})\s*(?P<unit>.*?)\s*", re.DOTALL)
# "A number, then a unit" for JSON Schema, without lookarounds so that any regex engine takes
# it: a unit must not start like more of the number, or "37" would pass as "3" and "7".
_PATTERN = rf"^\s*{_NUMBER}\s*(?:[^\s0-9.eE+-]|[eE](?:[^0-9+-]|$)).*$"

# pint evaluates unit text as arithmetic and skips characters it does not know, so "m*9**9**9"
# or "m*9**9;**9" would compute a number with millions of digits. Unit text is held to letters
# (those of pint's unit names), digits and operators, and every exponent to a short literal that
# is not itself raised; "." only inside a number, as pint skips it elsewhere too.
_UNIT_CHARS = frozenset(string.ascii_letters + string.digits + " _*/()+-%µμΩΔÅÅπεϵλγζℓℎöéåø")
_DECIMAL = re.compile(r"[0-9]\.[0-9]")
_SMALL = r"\s*[+-]?[0-9]{1,2}(?:\.[0-9]+)?(?![0-9._eE])\s*"
_EXPONENT = re.compile(rf"\*\*(?:\({_SMALL}\)|{_SMALL})(?![\s)]*\*\*)")
_MAX_UNIT_LENGTH = 100
_FLOAT_DIGITS = 300
# What pint's unit parser raises on malformed text (found by fuzzing pint 0.25).
_PARSE_ERRORS = (
    pint.PintError,
    tokenize.TokenError,
    ArithmeticError,
    AssertionError,
    LookupError,
    SyntaxError,
    TypeError,
    ValueError,
)

# Friendly name and example input per dimension, for messages and JSON Schema.
_KNOWN: dict[str, tuple[str, str]] = {
    "[time]": ("time", "10 min"),
    "[length] ** 3": ("volume", "5 ml"),
    "[length] ** 3 / [time]": ("flow rate", "5 ul/min"),
    "[temperature]": ("temperature", "37 degC"),
    "[length]": ("length", "10 mm"),
    "[mass]": ("mass", "5 g"),
    "[electric_potential]": ("voltage", "5 V"),
    "[current]": ("current", "10 mA"),
    "[frequency]": ("frequency", "50 Hz"),
    "[pressure]": ("pressure", "1 bar"),
    "[]": ("ratio", "50 %"),
}


@functools.cache
def registry() -> pint.UnitRegistry[Any]:
    """The process-wide unit registry; built on first use because that takes ~0.4 s."""
    return pint.UnitRegistry()


class QuantityError(ValueError):
    """A value that cannot be read as a quantity; `text` is the input, `reason` what is wrong."""

    def __init__(self, message: str, *, text: str, reason: str) -> None:
        super().__init__(message)
        self.text = text
        self.reason = reason


def parse_quantity(text: str) -> Quantity:
    """Read ``"<number> <unit>"``, e.g. ``"10 min"``, ``"-20.5 degC"``, ``"1e-3 mL"``."""
    match = _SPLIT.fullmatch(text)
    if match is None:
        reason = "expected a number followed by a unit, such as '10 min'"
        raise QuantityError(f"{text!r} is not a quantity: {reason}", text=text, reason=reason)
    number, unit = match["number"], match["unit"]
    if not unit:
        reason = "a quantity needs a unit, such as '10 min'"
        raise QuantityError(f"{text!r} has no unit: {reason}", text=text, reason=reason)
    # Integers stay exact, short of Python's limit on converting long digit strings.
    integral = number.lstrip("+-").isdigit() and len(number) < _FLOAT_DIGITS
    return _build(int(number) if integral else float(number), unit, text)


def _build(magnitude: object, unit: str, text: str) -> Quantity:
    # Built from number and unit separately: parsing "37 degC" whole is an offset-unit error.
    if not isinstance(magnitude, int | float) or isinstance(magnitude, bool):
        reason = "the magnitude must be a number"
    elif not abs(magnitude) <= sys.float_info.max:  # also NaN, and ints too big for a float
        reason = "the magnitude must be finite"
    else:
        # Plain int/float (not numpy scalars or bool subclasses) so JSON dumps stay exact.
        plain = int(magnitude) if isinstance(magnitude, int) else float(magnitude)
        reason = f"invalid unit {unit!r}"
        if _harmless(unit):
            try:
                return registry().Quantity(plain, unit)
            except pint.UndefinedUnitError as exc:
                reason = f"unknown unit {exc.unit_names[0]!r}"
            except _PARSE_ERRORS:
                pass
        raise QuantityError(f"{reason} in {text!r}", text=text, reason=reason) from None
    raise QuantityError(f"{text!r} is not a quantity: {reason}", text=text, reason=reason)


def _harmless(unit: str) -> bool:
    expanded = string_preprocessor(unit)  # as pint reads it: "m²" is "m**(2)", "°" is "degree"
    return (
        len(unit) <= _MAX_UNIT_LENGTH
        and set(_DECIMAL.sub("0", expanded)) <= _UNIT_CHARS
        and len(_EXPONENT.findall(expanded)) == expanded.count("**")
    )


def format_quantity(q: Quantity) -> str:
    """Short human form, e.g. ``37 °C``, ``5 µl/min``, ``2 h`` (see the module docstring)."""
    return f"{str(q.magnitude).removesuffix('.0')} {q.units:~P}".rstrip()


def _known(dimensionality: UnitsContainer) -> tuple[str | None, str | None]:
    reg = registry()
    matches = (v for k, v in _KNOWN.items() if reg.get_dimensionality(k) == dimensionality)
    return next(matches, (None, None))


def _describe(dimensionality: UnitsContainer, name: str | None) -> str:
    if name is None:
        return f"a quantity of {dimensionality}"
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _mismatch(label: str, q: Quantity) -> str:
    got = _describe(q.dimensionality, _known(q.dimensionality)[0])
    return f"expected {label}, got {format_quantity(q)} ({got})"


def to_seconds(value: Quantity | float | int | timedelta) -> float:
    """Seconds in a time quantity or timedelta; plain numbers are taken as seconds already."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    if not value.check("[time]"):
        message = _mismatch("a time", value)
        raise QuantityError(message, text=format_quantity(value), reason="expected a time")
    return float(value.m_as("s"))


def _coerce(value: object) -> Quantity | None:
    """The quantity in any accepted input form, or None for other kinds of value."""
    if isinstance(value, str):
        return parse_quantity(value)
    if isinstance(value, pint.Quantity):
        # Re-made in our registry: pint refuses to mix quantities of different registries.
        return _build(value.magnitude, f"{value.units:D}", format_quantity(value))
    if (
        isinstance(value, Mapping)
        and value.keys() == {"magnitude", "units"}
        and isinstance(units := value["units"], str)
    ):
        return _build(value["magnitude"], units, f"{value['magnitude']} {units}")
    return None


def _to_json(value: Quantity | str) -> dict[str, Any]:
    # Serialization-mode JSON Schema passes unvalidated defaults such as "5 ml" through here.
    q = parse_quantity(value) if isinstance(value, str) else value
    return {"magnitude": q.magnitude, "units": f"{q.units:D}"}


_RULES: tuple[tuple[str, Callable[[Any, Any], bool], str, str], ...] = (
    ("ge", operator.ge, "is below the minimum", "x-minimum"),
    ("gt", operator.gt, "must be above", "x-exclusiveMinimum"),
    ("le", operator.le, "is above the maximum", "x-maximum"),
    ("lt", operator.lt, "must be below", "x-exclusiveMaximum"),
)


@dataclass(frozen=True, kw_only=True)
class Bounds:
    """Inclusive (ge, le) or exclusive (gt, lt) limits, each a quantity string like "4 degC"."""

    ge: str | None = None
    gt: str | None = None
    le: str | None = None
    lt: str | None = None

    @cached_property
    def _limits(self) -> list[tuple[Quantity, Callable[[Any, Any], bool], str]]:
        rules = ((getattr(self, attr), op, words) for attr, op, words, _ in _RULES)
        try:
            return [
                (parse_quantity(text), op, words) for text, op, words in rules if text is not None
            ]
        except QuantityError as exc:
            raise TypeError(f"bad bound: {exc}") from None

    def _check(self, q: Quantity) -> Quantity:
        for bound, op, words in self._limits:
            if not op(q.m_as(bound.units), bound.magnitude):
                message = f"{format_quantity(q)} {words} {format_quantity(bound)}"
                raise PydanticCustomError("quantity", message)
        return q

    def _json_bounds(self) -> dict[str, str]:
        pairs = ((key, getattr(self, attr)) for attr, _, _, key in _RULES)
        return {key: text for key, text in pairs if text is not None}

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(schema) | self._json_bounds()


@dataclass(frozen=True)
class QuantityType(Bounds):
    """Field metadata: a pint quantity of `dimension` (e.g. "[time]"), optionally bounded."""

    dimension: str
    name: str | None = field(default=None, kw_only=True)

    @cached_property
    def _spec(self) -> tuple[UnitsContainer, str | None, str | None]:
        """Dimensionality, friendly name and example input."""
        try:
            dimensionality = registry().get_dimensionality(self.dimension)
        except _PARSE_ERRORS as exc:
            raise TypeError(f"bad dimension {self.dimension!r}: {exc!r}") from None
        name, example = _known(dimensionality)
        return dimensionality, self.name or name, example

    @property
    def label(self) -> str:
        """The friendly name, such as "time" or "flow rate", else the dimension itself."""
        if self.name is not None:
            return self.name
        # The ready-made aliases are named without building the registry, which takes ~0.4 s
        # and would otherwise be paid by `labrun plugins` just to print their arguments.
        known = _KNOWN.get(self.dimension)
        if known is not None:
            return known[0]
        try:
            return self._spec[1] or self.dimension
        except TypeError:  # a bad dimension; the model reports it when it is first used
            return self.dimension

    def _validate(self, value: object) -> Quantity:
        dimensionality, name, example = self._spec
        label = _describe(dimensionality, name)
        bare_text = isinstance(value, str) and (m := _SPLIT.fullmatch(value)) and not m["unit"]
        if bare_text or (isinstance(value, int | float) and not isinstance(value, bool)):
            such_as = f", such as {example!r}" if example else ""
            raise PydanticCustomError("quantity", f"{label} needs a unit{such_as}")
        try:
            q = _coerce(value)
        except QuantityError as exc:
            raise PydanticCustomError("quantity", str(exc)) from None
        if q is None:
            like = f" like {example!r}" if example else ""
            shape = "an object with 'magnitude' and 'units'"
            message = f"expected {label} as text{like} or {shape}, got {value!r}"
            raise PydanticCustomError("quantity", message)
        if q.dimensionality != dimensionality:
            raise PydanticCustomError("quantity", _mismatch(label, q))
        return self._check(q)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        to_json = core_schema.plain_serializer_function_ser_schema(_to_json, when_used="json")
        return core_schema.no_info_plain_validator_function(self._validate, serialization=to_json)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        _, name, example = self._spec
        obj: dict[str, Any] = {
            "type": "object",
            "properties": {"magnitude": {"type": "number"}, "units": {"type": "string"}},
            "required": ["magnitude", "units"],
            "additionalProperties": False,
        }
        text: dict[str, Any] = {"type": "string", "pattern": _PATTERN}
        if example:
            text["examples"] = [example]
        json_schema: dict[str, Any] = (
            obj if handler.mode == "serialization" else {"anyOf": [text, obj]}
        )
        json_schema["x-dimension"] = self.dimension
        if name:
            json_schema["x-quantity"] = name
        return json_schema | self._json_bounds()


Time = Annotated[Quantity, QuantityType("[time]")]
Volume = Annotated[Quantity, QuantityType("[length] ** 3")]
FlowRate = Annotated[Quantity, QuantityType("[length] ** 3 / [time]")]
Temperature = Annotated[Quantity, QuantityType("[temperature]")]
Length = Annotated[Quantity, QuantityType("[length]")]
Mass = Annotated[Quantity, QuantityType("[mass]")]
Voltage = Annotated[Quantity, QuantityType("[electric_potential]")]
Current = Annotated[Quantity, QuantityType("[current]")]
Frequency = Annotated[Quantity, QuantityType("[frequency]")]
Pressure = Annotated[Quantity, QuantityType("[pressure]")]
Dimensionless = Annotated[Quantity, QuantityType("[]")]
