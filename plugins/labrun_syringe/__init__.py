"""The `syringe` plugin: the New Era NE-1000 syringe pump and the processes that pump with it.

Driver `syringe.ne1000` (`Ne1000`, simulated by `Ne1000Simulator`); processes
`syringe.infuse`, `syringe.withdraw` and `syringe.stop`.
"""

from labrun_syringe.ne1000 import Direction, Dispensed, Ne1000, Ne1000Options
from labrun_syringe.plugin import plugin
from labrun_syringe.pumping import PumpArgs, StopArgs
from labrun_syringe.simulator import Ne1000Simulator

__all__ = [
    "Direction",
    "Dispensed",
    "Ne1000",
    "Ne1000Options",
    "Ne1000Simulator",
    "PumpArgs",
    "StopArgs",
    "plugin",
]
