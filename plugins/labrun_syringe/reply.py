"""Replies of the NE-1000 in basic mode: STX, a 2-digit address, a status, data, ETX.

\\x0200S\\x03             stopped, nothing to say
\\x0200I1.500\\x03        infusing, a value
\\x0200A?S\\x03           an alarm: the pump stalled
\\x0200S?OOR\\x03         the command was refused: a value out of range
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STX = b"\x02"
ETX = b"\x03"

STATUSES = {
    "I": "infusing",
    "W": "withdrawing",
    "X": "purging",
    "S": "stopped",
    "P": "paused",
    "T": "paused by its program",
    "U": "waiting for user input",
}

ALARMS = {
    "R": "the pump was reset: its power was interrupted",
    "S": "the pump stalled",
    "T": "the safe-mode communication timeout expired",
    "E": "the pumping program has an error",
    "O": "a pumping phase is out of range",
}

ERRORS = {
    "": "the pump does not know the command",
    "NA": "the command is not applicable now",
    "OOR": "a value is out of range",
    "COM": "the command or its argument is invalid",
    "IGN": "the pump ignored the command",
}

_STATUS_LETTERS = "".join(STATUSES)
_FRAME = re.compile(
    rf"(?P<address>[0-9]{{2}})"
    rf"(?:A\?(?P<alarm>[{''.join(ALARMS)}])|(?P<status>[{_STATUS_LETTERS}])(?P<data>[ -~]*))"
)


class GarbledReply(ValueError):
    """A reply that is not an NE-1000 reply; the message says what is wrong with it."""


@dataclass(frozen=True)
class Reply:
    address: int
    # A status letter (see STATUSES), or "A" for an alarm.
    status: str
    data: str = ""
    alarm: str | None = None
    # The code after "?" when the pump refused the command ("" for a bare "?").
    error: str | None = None
    # The reply as it came, for messages.
    frame: bytes = field(default=b"", compare=False)

    @property
    def state(self) -> str:
        """The status in words."""
        if self.alarm is not None:
            return f"alarm {self.alarm}"
        return STATUSES[self.status]

    def alarm_text(self) -> str:
        assert self.alarm is not None
        return f"{ALARMS[self.alarm]} (alarm {self.alarm})"

    def error_text(self) -> str:
        assert self.error is not None
        meaning = ERRORS.get(self.error, "the pump reports an error this driver does not know")
        return f"{meaning} (?{self.error})"


def parse(frame: bytes) -> Reply:
    """The reply in `frame`, which ends with ETX. Bytes before the last STX are dropped:
    a line can pick up noise while idle, and the frame proper starts at STX."""
    start = frame.rfind(STX)
    if start < 0:
        raise GarbledReply("the reply does not start with STX")
    if not frame.endswith(ETX):
        raise GarbledReply("the reply does not end with ETX")
    body = frame[start + 1 : -1]
    try:
        decoded = body.decode("ascii")
    except UnicodeDecodeError:
        raise GarbledReply("the reply holds bytes that are not ASCII") from None
    match = _FRAME.fullmatch(decoded)
    if match is None:
        raise GarbledReply("the reply is not an address and a status")
    address = int(match["address"])
    if match["alarm"] is not None:
        return Reply(address, "A", alarm=match["alarm"], frame=frame)
    data = match["data"]
    if data.startswith("?"):
        return Reply(address, match["status"], error=data[1:], frame=frame)
    return Reply(address, match["status"], data, frame=frame)
