"""Device references: the argument fields through which a process names the devices it uses.

    class InfuseArgs(BaseModel):
        pump: Annotated[str, DeviceRef("syringe.ne1000")]

The value is a name from the protocol's `devices:`. The compiler checks it, and, with a
host configuration, that the configured device has one of the drivers listed; the engine
claims the device for the step and hands the driver to the process through its context.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel


class DeviceRef:
    """Marks a `str` field (or a list of them) as device names; `drivers` are the qualified
    driver names (`plugin.driver`) the process works with, none meaning any.

    A step claims its devices for itself, unless `shared`: then it only reads them, beside
    the steps that claim them (a recorder sampling values, say)."""

    __slots__ = ("drivers", "shared")

    def __init__(self, *drivers: str, shared: bool = False) -> None:
        self.drivers = drivers
        self.shared = shared

    def accepts(self, driver: str) -> bool:
        return not self.drivers or driver in self.drivers

    def __repr__(self) -> str:
        shared = ", shared=True" if self.shared else ""
        return f"DeviceRef({', '.join(map(repr, self.drivers))}{shared})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DeviceRef)
            and other.drivers == self.drivers
            and other.shared == self.shared
        )

    def __hash__(self) -> int:
        return hash((self.drivers, self.shared))


def device_fields(model: type[BaseModel]) -> tuple[tuple[str, DeviceRef], ...]:
    """The fields of `model` that name devices, with what they accept."""
    return tuple(_device_fields(model))


def _device_fields(model: type[BaseModel]) -> Iterator[tuple[str, DeviceRef]]:
    for name, field in model.model_fields.items():
        for item in field.metadata:
            if isinstance(item, DeviceRef):
                yield name, item
                break
