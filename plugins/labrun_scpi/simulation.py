"""The pyvisa-sim files shipped with the plugin, one per kind of instrument."""

from importlib.resources import files

from labrun import VisaSimulation


def simulated(file: str, resource: str) -> VisaSimulation:
    """The simulated instrument `resource` described in `sim/<file>`."""
    return VisaSimulation(files("labrun_scpi") / "sim" / file, resource)
