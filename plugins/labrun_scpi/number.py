"""Numbers and booleans on the wire: written in a form every SCPI parser takes, and read
back strictly, so that a reply that is not a number is caught rather than guessed at."""

from __future__ import annotations

import math
import re
from decimal import Decimal

# IEEE 488.2 <NR1>, <NR2> and <NR3>: what instruments send. Python's float() accepts more
# ("nan", "inf", "1_000"), none of which a working instrument sends.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TRUE = frozenset({"1", "ON"})
_FALSE = frozenset({"0", "OFF"})


def format_number(value: float) -> str:
    """`value` in positional notation with a decimal point, in its shortest form to 12
    significant digits (`5.0`, `0.000001`, `77.15`): some instruments reject exponents,
    none reject this, and no instrument resolves 12 digits, whereas a unit conversion
    leaves noise in the 16th (-196 degC is 77.14999999999998 K)."""
    if isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"cannot send {value!r} to an instrument")
    # Adding 0.0 turns -0.0 into 0.0; repr() is the shortest text that reads back exactly.
    rounded = float(f"{value:.12g}") + 0.0
    text = format(Decimal(repr(rounded)), "f")
    return text if "." in text else f"{text}.0"


def parse_number(text: str) -> float | None:
    """The number in `text` (surrounding blanks allowed), or None when it is not one."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    return float(text)


def parse_numbers(text: str) -> list[float] | None:
    """Comma-separated numbers, such as a multimeter's readings, or None if any is not one."""
    numbers = [parse_number(part) for part in text.split(",")]
    if any(number is None for number in numbers):
        return None
    return [number for number in numbers if number is not None]


def parse_bool(text: str) -> bool | None:
    """A SCPI boolean (`1`, `0`, `ON`, `OFF`), or None when it is not one."""
    word = text.strip().upper()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return None
