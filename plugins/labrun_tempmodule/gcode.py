"""The module's G-code dialect: framing, number formatting and reply parsing.

Replies are parsed, not matched: firmware versions write `T:37.0 C:24.5`, `T:37 C:24.500`,
`T:none C:23`, or echo the code (`M105 T:none C:82.3 OK`), so a reply is read as
`key:value` pairs, words without a colon are ignored, and only what is needed must be there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

TERMINATOR = b"\r\n\r\n"
# Every command, answered or not, is acknowledged with this.
ACK = b"ok\r\nok\r\n"

# GEN2 firmware reports a model `temp_deck_v<revision>`; revisions from 20 on are GEN2
# (the rule Opentrons' own driver applies).
MODEL_PREFIX = "temp_deck_v"
FIRST_GEN2_REVISION = 20

_PAIR = re.compile(r"([A-Za-z_]+)\s*:\s*(\S*)")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class ReplyError(ValueError):
    """A reply that cannot be read; the message says what is missing or wrong."""


@dataclass(frozen=True)
class ModuleStatus:
    """An M105 reply: the target (None when deactivated) and the block temperature, in °C."""

    target: float | None
    current: float
    # The reply line it was read from, to show in errors.
    line: str = field(default="", compare=False)


@dataclass(frozen=True)
class Identity:
    """An M115 reply."""

    serial: str
    model: str
    version: str

    @property
    def revision(self) -> float | None:
        """The hardware revision in the model name (20 in `temp_deck_v20`), if there is one."""
        if not self.model.startswith(MODEL_PREFIX):
            return None
        text = self.model.removeprefix(MODEL_PREFIX)
        return float(text) if _NUMBER.fullmatch(text) else None

    @property
    def is_gen2(self) -> bool:
        revision = self.revision
        return revision is not None and revision >= FIRST_GEN2_REVISION

    def __str__(self) -> str:
        return f"Opentrons {self.model} serial {self.serial} firmware {self.version}"


def frame(gcode: str) -> bytes:
    return gcode.encode("ascii") + TERMINATOR


def celsius_text(value: float) -> str:
    """A temperature as M104 takes it: at most two decimals, no trailing zeros (`37`, `4.25`)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def reply_lines(reply: bytes) -> list[str]:
    """The text lines before the acknowledgement; ReplyError if it is not ASCII text."""
    body = reply.removesuffix(ACK)
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise ReplyError("bytes that are not ASCII text") from None
    if any(not char.isprintable() for char in text.replace("\r", "").replace("\n", "")):
        raise ReplyError("control characters in the reply")
    return [line.strip() for line in text.splitlines() if line.strip()]


def pairs(line: str) -> dict[str, str]:
    """The `key:value` pairs of a reply line, keys lowercased; ReplyError on a repeated key."""
    found: dict[str, str] = {}
    for name, value in _PAIR.findall(line):
        key = name.lower()
        if key in found:
            raise ReplyError(f"{key!r} appears twice")
        found[key] = value
    return found


def number(key: str, text: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise ReplyError(f"{key}:{text} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise ReplyError(f"{key}:{text} is not a finite number")
    return value


def parse_status(line: str) -> ModuleStatus:
    """Read an M105 reply such as `T:37.0 C:24.5` or `T:none C:23`."""
    found = pairs(line)
    missing = [key.upper() for key in ("t", "c") if key not in found]
    if missing:
        raise ReplyError(f"no {' or '.join(missing)}: value (expected 'T:<target> C:<current>')")
    target_text = found["t"]
    target = None if target_text.lower() == "none" else number("T", target_text)
    return ModuleStatus(target=target, current=number("C", found["c"]), line=line)


def parse_identity(line: str) -> Identity:
    """Read an M115 reply such as `serial:TDV21P20201224A01 model:temp_deck_v21 version:v2.1.0`."""
    found = pairs(line)
    missing = [key for key in ("serial", "model", "version") if not found.get(key)]
    if missing:
        raise ReplyError(f"no {', '.join(missing)} (expected 'serial:… model:… version:…')")
    return Identity(serial=found["serial"], model=found["model"], version=found["version"])
