"""Checking the devices process steps name against the protocol's `devices:` and, when a
host configuration is given, against the drivers of the configured devices."""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from labrun.device.ref import DeviceRef
from labrun.plugin import ProcessSpec
from labrun.protocol._reader import Reader, did_you_mean


class DeviceCheck:
    def __init__(self, declared: Mapping[str, str], drivers: Mapping[str, str] | None) -> None:
        """`declared`: the protocol's devices (its name -> configured name); `drivers`:
        the configured devices' drivers, when a configuration is known."""
        self._declared = declared
        self._drivers = drivers
        self.accepted: dict[str, frozenset[str] | None] = {}

    def check(
        self, reader: Reader, spec: ProcessSpec, value_node: yaml.Node, shorthand: str | None
    ) -> None:
        for field, ref in spec.devices:
            node = _argument_node(value_node, field, shorthand)
            items = node.value if isinstance(node, yaml.SequenceNode) else [node]
            for item in items:
                if isinstance(item, yaml.ScalarNode) and "${" not in str(item.value):
                    self._check_one(reader, spec, ref, item)

    def _check_one(
        self, reader: Reader, spec: ProcessSpec, ref: DeviceRef, node: yaml.ScalarNode
    ) -> None:
        name = str(node.value)
        target = self._declared.get(name)
        if target is None:
            names = sorted(self._declared)
            hint = did_you_mean(name, names)
            listing = (
                f"the protocol's devices are: {', '.join(names)}"
                if names
                else f"declare it under devices:, such as `devices: {{{name}: {name}}}`"
            )
            reader.error(
                node,
                f"unknown device '{name}' for {spec.qualified_name}",
                f"{hint} {listing}" if hint else listing,
            )
            return
        if not self._accept(name, ref.drivers):
            reader.error(
                node,
                f"device '{name}' is used by steps that need different drivers: "
                f"{spec.qualified_name} works with {' or '.join(ref.drivers)}",
                "use another device name for one of them",
            )
            return
        driver = None if self._drivers is None else self._drivers.get(target)
        if driver is not None and not ref.accepts(driver):
            reader.error(
                node,
                f"device '{name}' ({target}) has the driver {driver}, and "
                f"{spec.qualified_name} works with {' or '.join(ref.drivers)}",
                "map the name to another device under devices:",
            )

    def _accept(self, name: str, drivers: tuple[str, ...]) -> bool:
        """Narrow what `name` may be to `drivers`; False when nothing would be left."""
        if not drivers:
            self.accepted.setdefault(name, None)
            return True
        known = self.accepted.get(name)
        narrowed = frozenset(drivers) if known is None else known & frozenset(drivers)
        if not narrowed:
            return False
        self.accepted[name] = narrowed
        return True

    def device_drivers(self) -> dict[str, frozenset[str]]:
        return {name: drivers or frozenset() for name, drivers in self.accepted.items()}


def _argument_node(value_node: yaml.Node, field: str, shorthand: str | None) -> yaml.Node | None:
    if isinstance(value_node, yaml.MappingNode):
        for key, value in value_node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == field:
                found: yaml.Node = value
                return found
        return None
    if shorthand == field:
        return value_node
    return None
