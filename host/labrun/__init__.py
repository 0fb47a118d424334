"""labrun: run laboratory protocols on instruments.

This module is the public API for plugin authors; everything else is internal.
"""

from labrun.catalog import LoadDiagnostic, PluginCatalog, load_plugins
from labrun.clock import Clock, RealClock, VirtualClock
from labrun.context import ProcessContext
from labrun.duration import Remaining
from labrun.event import Event, EventType
from labrun.plugin import Plugin, ProcessSpec
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
    "Clock",
    "ControlRequest",
    "Event",
    "EventType",
    "JumpRequest",
    "LoadDiagnostic",
    "PauseMode",
    "PauseRequest",
    "Plugin",
    "PluginCatalog",
    "ProcessContext",
    "ProcessSpec",
    "RealClock",
    "Remaining",
    "RequestKind",
    "RequestRefused",
    "StepState",
    "SwapRequest",
    "VirtualClock",
    "load_plugins",
]
