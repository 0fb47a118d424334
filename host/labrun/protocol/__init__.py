"""Protocol files: the YAML format, its compiler and its diagnostics (docs/protocols.md)."""

from labrun.protocol.compiler import CompileResult, compile
from labrun.protocol.diagnostic import Diagnostic, Severity
from labrun.protocol.parameter import Parameter, ParameterError, parse_assignments
from labrun.protocol.source import Position
from labrun.protocol.tree import (
    ErrorAction,
    OnError,
    ParallelStep,
    ProcessStep,
    Protocol,
    RepeatStep,
    SequenceStep,
    Step,
    SweepStep,
)

__all__ = [
    "CompileResult",
    "Diagnostic",
    "ErrorAction",
    "OnError",
    "ParallelStep",
    "Parameter",
    "ParameterError",
    "Position",
    "ProcessStep",
    "Protocol",
    "RepeatStep",
    "SequenceStep",
    "Severity",
    "Step",
    "SweepStep",
    "compile",
    "parse_assignments",
]
