"""Durations: seconds as a float, `None` when unknown and `math.inf` for forever."""

from __future__ import annotations

import math
from datetime import timedelta
from enum import StrEnum

import pint

from labrun.quantity import Quantity, to_seconds


class Remaining(StrEnum):
    """The two durations that are not a number of seconds."""

    UNKNOWN = "unknown"
    FOREVER = "forever"


DurationLike = float | int | timedelta | Quantity | Remaining | None


def seconds_of(value: DurationLike) -> float | None:
    """Seconds from any accepted form: `None` for unknown, `math.inf` for forever."""
    if value is None or value is Remaining.UNKNOWN:
        return None
    if value is Remaining.FOREVER:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, int | float | timedelta | pint.Quantity):
        raise TypeError(f"a duration is seconds, a timedelta or a time quantity, not {value!r}")
    seconds = to_seconds(value)
    if seconds < 0 or math.isnan(seconds):
        raise ValueError(f"a duration cannot be {seconds:g} s")
    return seconds


def duration_json(seconds: float | None) -> float | str:
    """The JSON form: a number of seconds, or "unknown" / "forever"."""
    if seconds is None:
        return Remaining.UNKNOWN.value
    if math.isinf(seconds):
        return Remaining.FOREVER.value
    return seconds
