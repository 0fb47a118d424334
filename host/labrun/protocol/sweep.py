"""Sweep ranges: `20 degC to 40 degC by 5 degC`, or plain numbers `1 to 10 by 3`.

A range starts at its first value and steps toward the last, which it includes when a
step lands on it. Quantity values are in the unit of the first value; the step is a
difference, so `by 5 degC` means five degrees whatever the offset of the units.
"""

from __future__ import annotations

import math
import re
from typing import Any

from labrun.quantity import QuantityError, format_quantity, parse_quantity, registry

MAX_VALUES = 10_000

_RANGE = re.compile(r"\s*(?P<start>.+?)\s+to\s+(?P<stop>.+?)\s+by\s+(?P<step>.+?)\s*", re.DOTALL)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
# Values are rounded to this many significant digits so that 0.1 steps stay 0.3, not
# 0.30000000000000004.
_DIGITS = 12


def is_range(text: str) -> bool:
    return _RANGE.fullmatch(text) is not None


def parse_range(text: str) -> tuple[Any, ...]:
    """The values of a range; ValueError says what is wrong with it."""
    match = _RANGE.fullmatch(text)
    if match is None:
        raise ValueError("expected a range such as '20 degC to 40 degC by 5 degC'")
    parts = (match["start"], match["stop"], match["step"])
    if all(_NUMBER.fullmatch(part) for part in parts):
        if all(_INTEGER.fullmatch(part) for part in parts):
            start, stop, step = (int(part) for part in parts)
            return _steps(start, stop, step, int)
        start_f, stop_f, step_f = (float(part) for part in parts)
        return _steps(start_f, stop_f, step_f, _round)
    try:
        first, last, by = (parse_quantity(part) for part in parts)
    except QuantityError as error:
        raise ValueError(f"{error}; a range is all numbers or all quantities") from None
    for other in (last, by):
        if other.dimensionality != first.dimensionality:
            raise ValueError(
                f"{format_quantity(other)} and {format_quantity(first)} are not of one kind"
            )
    units = first.units
    # The step is a difference: add it to the start in the step's units, then come back.
    moved = registry().Quantity(first.m_as(by.units) + by.magnitude, by.units)
    step_magnitude = _round(float(moved.m_as(units) - first.magnitude))
    magnitudes = _steps(first.magnitude, float(last.m_as(units)), step_magnitude, _magnitude)
    return tuple(registry().Quantity(magnitude, units) for magnitude in magnitudes)


def _steps(start: float, stop: float, step: float, kind: Any) -> tuple[Any, ...]:
    if step == 0:
        raise ValueError("the step cannot be 0")
    span = (stop - start) / step
    if span < 0:
        raise ValueError("the step goes away from the last value")
    if not math.isfinite(span) or span + 1 > MAX_VALUES:
        raise ValueError(f"the range has more than {MAX_VALUES} values")
    count = math.floor(span + 1e-9) + 1
    return tuple(kind(start + index * step) for index in range(count))


def _round(value: float) -> float:
    return float(f"{value:.{_DIGITS}g}")


def _magnitude(value: float) -> float | int:
    """A quantity's magnitude: whole numbers as ints, so they read `25 °C`."""
    rounded = _round(value)
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded
