"""labrun: run laboratory protocols on instruments.

This module is the public API for plugin authors; everything else is internal.
"""

from labrun.catalog import LoadDiagnostic, PluginCatalog, load_plugins
from labrun.clock import Clock, RealClock, VirtualClock
from labrun.context import ProcessContext
from labrun.duration import Remaining
from labrun.event import Event, EventType
from labrun.plugin import Plugin, ProcessSpec
from labrun.protocol import (
    CompileResult,
    Diagnostic,
    ParallelStep,
    ProcessStep,
    Protocol,
    RepeatStep,
    SequenceStep,
    Step,
    SweepStep,
    compile,
)
from labrun.quantity import (
    Bounds,
    Current,
    Dimensionless,
    FlowRate,
    Frequency,
    Length,
    Mass,
    Pressure,
    Quantity,
    QuantityError,
    QuantityType,
    Temperature,
    Time,
    Voltage,
    Volume,
    format_quantity,
    parse_quantity,
    registry,
    to_seconds,
)
from labrun.request import (
    ControlRequest,
    JumpRequest,
    PauseMode,
    PauseRequest,
    RequestKind,
    RequestRefused,
    SwapRequest,
)
from labrun.state import StepState

__all__ = [
    "Bounds",
    "Clock",
    "CompileResult",
    "ControlRequest",
    "Current",
    "Diagnostic",
    "Dimensionless",
    "Event",
    "EventType",
    "FlowRate",
    "Frequency",
    "JumpRequest",
    "Length",
    "LoadDiagnostic",
    "Mass",
    "ParallelStep",
    "PauseMode",
    "PauseRequest",
    "Plugin",
    "PluginCatalog",
    "Pressure",
    "ProcessContext",
    "ProcessSpec",
    "ProcessStep",
    "Protocol",
    "Quantity",
    "QuantityError",
    "QuantityType",
    "RealClock",
    "Remaining",
    "RepeatStep",
    "RequestKind",
    "RequestRefused",
    "SequenceStep",
    "Step",
    "StepState",
    "SwapRequest",
    "SweepStep",
    "Temperature",
    "Time",
    "VirtualClock",
    "Voltage",
    "Volume",
    "compile",
    "format_quantity",
    "load_plugins",
    "parse_quantity",
    "registry",
    "to_seconds",
]
