"""The `tempmodule` plugin: the Opentrons Temperature Module GEN2.

Driver `tempmodule.gen2` (`TempModule`, simulated by `TempModuleSimulator`); processes
`tempmodule.set_temperature` and `tempmodule.deactivate`.
"""

from labrun_tempmodule.block import BlockModel
from labrun_tempmodule.driver import TempModule
from labrun_tempmodule.gcode import Identity, ModuleStatus
from labrun_tempmodule.plugin import plugin
from labrun_tempmodule.simulator import TempModuleSimulator
from labrun_tempmodule.temperature import deactivate, set_temperature

__all__ = [
    "BlockModel",
    "Identity",
    "ModuleStatus",
    "TempModule",
    "TempModuleSimulator",
    "deactivate",
    "plugin",
    "set_temperature",
]
