"""Durations: seconds as a float, `None` when unknown and `math.inf` for forever."""

from __future__ import annotations

import math
from datetime import timedelta
from enum import StrEnum

import pint


class Remaining(StrEnum):
    """The two durations that are not a number of seconds."""

    UNKNOWN = "unknown"
    FOREVER = "forever"


DurationLike = float | int | timedelta | pint.Quantity | Remaining | None


def to_seconds(value: DurationLike) -> float | None:
    """Seconds from any accepted form: `None` for unknown, `math.inf` for forever."""
    if value is None or value is Remaining.UNKNOWN:
        return None
    if value is Remaining.FOREVER:
        return math.inf
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, pint.Quantity):
        if not value.check("[time]"):
            raise ValueError(f"expected a time, got {value}")
        return float(value.to("second").magnitude)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a duration is seconds, a timedelta or a time quantity, not {value!r}")
    if value < 0 or math.isnan(value):
        raise ValueError(f"a duration cannot be {value}")
    return float(value)


def duration_json(seconds: float | None) -> float | str:
    """The JSON form: a number of seconds, or "unknown" / "forever"."""
    if seconds is None:
        return Remaining.UNKNOWN.value
    if math.isinf(seconds):
        return Remaining.FOREVER.value
    return seconds
