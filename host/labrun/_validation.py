"""Pydantic validation errors in the words we show users."""

from __future__ import annotations

from pydantic import ValidationError


def error_lines(error: ValidationError) -> list[str]:
    """One `field: message` line per problem, without pydantic's 'Value error, ' prefix."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "arguments"
        message = problem["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        lines.append(f"{where}: {message}")
    return lines
