"""Device errors: each names the device, the command sent and what came back."""

from __future__ import annotations


def show(data: bytes | str | None) -> str:
    """Wire data as a reader wants to see it: control characters escaped, nothing hidden."""
    if data is None:
        return "nothing"
    if isinstance(data, bytes):
        data = data.decode("latin-1")
    return repr(data)


class DeviceError(Exception):
    """A device did not do what it was asked. It fails the step that asked; a fault (see
    `Driver.fault`) also marks the device unavailable until it reconnects, a refusal
    (`DeviceRefused`) does not."""

    def __init__(
        self,
        device: str,
        message: str,
        *,
        command: bytes | str | None = None,
        reply: bytes | str | None = None,
    ) -> None:
        self.device = device
        self.message = message
        self.command = command
        self.reply = reply
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"device {self.device}: {self.message}"
        if self.command is not None:
            text += f" (sent {show(self.command)}, got {show(self.reply)})"
        return text


class DeviceTimeout(DeviceError):
    """No complete reply within the timeout."""


class DeviceDisconnected(DeviceError):
    """The connection is gone: unplugged, closed, or it never opened."""


class DeviceReplyError(DeviceError):
    """A reply that is garbled or not what the command calls for."""


class DeviceRefused(DeviceReplyError):
    """The instrument, working as it should, says no: a value out of range, a command that
    does not apply now. The device stays available: there is nothing to reconnect."""


class DeviceAlarm(DeviceError):
    """The device reports an alarm, such as a stalled pump."""


class DeviceUnavailable(DeviceError):
    """The device is marked unavailable after a fault, until it reconnects."""


class ClaimRefused(Exception):
    """A device is held by someone else."""

    def __init__(self, device: str, holder: str) -> None:
        self.device = device
        self.holder = holder
        super().__init__(f"device {device} is in use by {holder}")
