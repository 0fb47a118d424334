"""Diagnostics: problems found in a protocol file, each with its place and a hint.

The text form is the one compilers use, so editors and terminals link it to the file::

    protocols/incubate.yml:4:7: error: unknown process 'tmer.wait'
        - tmer.wait: 10 min
          ^
      hint: did you mean timer.wait?

A diagnostic about the whole file (one that cannot be read) has line and column 0 and is
written `file: error: message`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem. `line` and `column` are 1-based; 0 means the whole file."""

    file: str
    line: int
    column: int
    severity: Severity
    message: str
    hint: str | None = None
    source_line: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def location(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"

    def render(self) -> str:
        """The text form: the message, the source line with a caret, then the hint."""
        lines = [f"{self.location}: {self.severity}: {self.message}"]
        if self.source_line is not None and self.line > 0:
            source = self.source_line.rstrip("\r\n")
            # Tabs are kept in the caret's indent so the caret lands under the same column.
            indent = "".join("\t" if char == "\t" else " " for char in source[: self.column - 1])
            lines.append(f"    {source}")
            lines.append(f"    {indent}^")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
            "source_line": self.source_line,
        }


def render_all(diagnostics: Iterable[Diagnostic]) -> str:
    return "\n".join(diagnostic.render() for diagnostic in diagnostics)


def sort_key(diagnostic: Diagnostic) -> tuple[str, int, int]:
    return (diagnostic.file, diagnostic.line, diagnostic.column)
