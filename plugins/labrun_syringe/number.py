"""Numbers on the NE-1000's wire: at most 4 digits and a decimal point, at most 3 decimals.

The pump truncates anything longer without a word, so the unit decides the precision:
5 µl/min sent as `0.005MM` keeps one significant digit, as `5.000UM` all four. `encode`
picks, among the units the command takes, the one whose last digit is the finest step,
and refuses a value that no unit carries exactly rather than let the pump truncate it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from labrun import Quantity, format_quantity, registry

DIGITS = 4
MAX_DECIMALS = 3
# Conversions through pint leave float noise (0.3 ml/h is 300.00000000000006 µl/h).
_RELATIVE = 1e-9


class NotRepresentable(ValueError):
    """A value the pump cannot be sent without losing part of it."""


@dataclass(frozen=True)
class WireUnit:
    """A unit as the pump spells it (`code`) and as pint does (`unit`)."""

    code: str
    unit: str


@dataclass(frozen=True)
class Encoded:
    """A value as it goes on the wire: `digits` in `unit`."""

    digits: str
    unit: WireUnit

    @property
    def quantity(self) -> Quantity:
        """What the pump will take the value to be."""
        return registry().Quantity(float(self.digits), self.unit.unit)


VOLUME_UNITS = (WireUnit("ML", "milliliter"), WireUnit("UL", "microliter"))
RATE_UNITS = (
    WireUnit("MM", "milliliter / minute"),
    WireUnit("MH", "milliliter / hour"),
    WireUnit("UM", "microliter / minute"),
    WireUnit("UH", "microliter / hour"),
)
DIAMETER_UNITS = (WireUnit("", "millimeter"),)


def decimals(magnitude: float) -> int | None:
    """How many decimals the 4-digit form of `magnitude` (not negative) has; None when
    even without decimals it needs more than 4 digits."""
    for places in range(MAX_DECIMALS, -1, -1):
        # Rounded first: 9.9996 has no 3-decimal form ("10.000" is 5 digits) but "10.00".
        if round(magnitude, places) < 10 ** (DIGITS - places):
            return places
    return None


def text(magnitude: float) -> str:
    """`magnitude` in the pump's 4-digit form, rounded to it (the simulator's readouts)."""
    places = decimals(magnitude)
    if places is None:
        return "9999"
    return f"{round(magnitude, places):.{places}f}"


def exact_text(magnitude: float) -> str | None:
    """The 4-digit form of `magnitude`, or None when it would lose part of the value."""
    places = decimals(magnitude)
    if places is None:
        return None
    rounded = round(magnitude, places)
    if abs(rounded - magnitude) > _RELATIVE * max(abs(magnitude), 1.0):
        return None
    return f"{rounded:.{places}f}"


@functools.cache
def _factor(unit: str, base: str) -> float:
    return float(registry().Quantity(1, unit).m_as(base))


def encode(value: Quantity, units: Sequence[WireUnit]) -> Encoded:
    """The digits and unit that carry `value` exactly, in the unit with the finest step;
    raises NotRepresentable (saying the nearest value that can be sent) when none does."""
    shown = format_quantity(value)
    if not float(value.m_as(units[0].unit)) > 0:
        raise NotRepresentable(f"{shown} cannot be sent to the pump: it must be above zero")
    exact = [
        candidate
        for candidate in _candidates(value, units)
        if exact_text(float(value.m_as(candidate.unit.unit))) is not None
    ]
    if exact:
        return exact[0]
    closest = nearest(value, units)
    if closest is None:
        most = registry().Quantity(9999, units[0].unit)
        raise NotRepresentable(
            f"{shown} cannot be sent to the pump: the most it takes is {format_quantity(most)}"
        )
    raise NotRepresentable(
        f"{shown} cannot be sent to the pump, which takes at most {DIGITS} digits "
        f"({MAX_DECIMALS} after the point) in {_names(units)}: the nearest it takes is "
        f"{format_quantity(closest.quantity)}"
    )


def nearest(value: Quantity, units: Sequence[WireUnit]) -> Encoded | None:
    """The value closest to `value` that the pump takes; None when it is too large."""
    base = units[0].unit
    target = float(value.m_as(base))
    candidates = _candidates(value, units)
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda c: abs(float(c.digits) * _factor(c.unit.unit, base) - target),
    )


def _candidates(value: Quantity, units: Sequence[WireUnit]) -> list[Encoded]:
    """`value` rounded to 4 digits in each unit it fits, the finest step first; on a tie
    the unit listed first (units are listed largest first, as people write them)."""
    base = units[0].unit
    found: list[tuple[float, int, Encoded]] = []
    for order, unit in enumerate(units):
        magnitude = float(value.m_as(unit.unit))
        places = decimals(magnitude)
        if places is None:
            continue
        step = 10.0**-places * _factor(unit.unit, base)
        # Steps that differ by float noise only (1 µl and 0.001 ml) count as a tie.
        found.append((float(f"{step:.9g}"), order, Encoded(text(magnitude), unit)))
    return [encoded for _, _, encoded in sorted(found, key=lambda item: item[:2])]


def _names(units: Sequence[WireUnit]) -> str:
    names = [f"{registry().Unit(u.unit):~P}" for u in units]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
