"""`Tolerance`: how far from its target a temperature may be, a temperature *difference*.

pint keeps the two apart: `0.5 K` and `0.5 delta_degC` are differences, while `0.5 degC` is
the absolute temperature 273.65 K. Nobody means the latter as a tolerance, so an offset unit
(°C, °F) is read here as the difference of the same size: `0.5 degC` is `0.5 delta_degC`.
Limits are checked after that reading, in kelvin.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

from labrun import Quantity, QuantityType, format_quantity, registry

# Tighter than the module's sensor can tell apart makes no sense; wider is no target at all.
SMALLEST = 0.0
LARGEST = 10.0
EXAMPLE = "0.5 K"


def as_difference(value: Quantity) -> Quantity:
    """`value` as a temperature difference, within (0, 10] K."""
    if float(registry().Quantity(0, value.units).m_as("K")) != 0:
        # An offset unit: its zero is not absolute zero, so it names a point on a scale.
        value = registry().Quantity(value.magnitude, f"delta_{value.units:D}")
    kelvin = float(value.m_as("K"))
    if not SMALLEST < kelvin <= LARGEST:
        raise ValueError(
            f"a tolerance must be above {SMALLEST:g} K and at most {LARGEST:g} K, "
            f"not {format_quantity(value)}"
        )
    return value


def difference_examples(schema: dict[str, Any]) -> None:
    """JSON Schema: the example a temperature field shows (37 °C) would mislead here."""
    for option in schema.get("anyOf", []):
        if isinstance(option, dict) and "examples" in option:
            option["examples"] = [EXAMPLE]


Tolerance = Annotated[
    Quantity,
    QuantityType("[temperature]", name="temperature difference"),
    AfterValidator(as_difference),
]
