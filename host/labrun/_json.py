"""Turning what processes hand us (models, quantities, dates) into JSON values."""

from __future__ import annotations

from typing import Any

import pint
from pydantic_core import to_jsonable_python


def _fallback(value: Any) -> Any:
    if isinstance(value, pint.Quantity):
        return {"magnitude": to_jsonable_python(value.magnitude), "units": str(value.units)}
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


_PLAIN = (type(None), bool, int, str)


def jsonable(value: Any) -> Any:
    """A JSON-compatible copy of `value`; raises TypeError when there is none."""
    if type(value) in _PLAIN:
        return value
    try:
        return to_jsonable_python(value, fallback=_fallback)
    except TypeError:
        raise
    except ValueError as error:
        raise TypeError(str(error)) from error
