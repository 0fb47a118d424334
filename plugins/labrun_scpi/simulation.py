"""The pyvisa-sim files shipped with the plugin, one per kind of instrument."""

from collections.abc import Callable
from importlib.resources import files

from labrun import Clock, VisaPhysics, VisaSimulation


def simulated(
    file: str, resource: str, physics: Callable[[Clock], VisaPhysics] | None = None
) -> VisaSimulation:
    """The simulated instrument `resource` described in `sim/<file>`, with its physics."""
    return VisaSimulation(files("labrun_scpi") / "sim" / file, resource, physics)
