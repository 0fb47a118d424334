"""The plugin API: a `Plugin` declares its processes with a decorator.

Declaration mistakes are recorded on the plugin rather than raised, so that the host can
report them as load diagnostics and go on loading every other plugin.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from labrun.device.driver import Driver, SerialDriver, VisaDriver
from labrun.device.ref import DeviceRef, device_fields
from labrun.duration import DurationLike, seconds_of
from labrun.quantity import QuantityType

if TYPE_CHECKING:
    from labrun.context import ProcessContext

ProcessFunction = Callable[[Any, "ProcessContext[Any]"], Awaitable[Any]]
Estimate = Callable[[Any], DurationLike]
F = TypeVar("F", bound=Callable[..., Any])
D = TypeVar("D", bound=type[Driver[Any]])

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# What a background process receives when the branches beside it have ended.
FINISH = {"finish": True}


@dataclass(frozen=True)
class ProcessSpec:
    """One declared process: what the host needs to validate, estimate and run it."""

    namespace: str
    name: str
    function: ProcessFunction
    args_model: type[BaseModel]
    estimator: Estimate | None = None
    description: str = ""
    # The argument fields that name devices, with the drivers each accepts.
    devices: tuple[tuple[str, DeviceRef], ...] = ()
    # Runs beside the other branches of a parallel step: once they have all ended, it gets
    # the message FINISH in receive() and is expected to return.
    background: bool = False

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}.{self.name}"

    def validate(self, data: BaseModel | Mapping[str, Any]) -> BaseModel:
        """The argument model for `data`; raises pydantic's ValidationError."""
        if isinstance(data, self.args_model):
            return data
        if isinstance(data, BaseModel):
            data = data.model_dump()
        # A misspelt argument must be an error, not a default silently used.
        return self.args_model.model_validate(data, extra="forbid")

    def estimate(self, data: BaseModel) -> float | None:
        """The static duration estimate in seconds (`None` unknown, `math.inf` forever)."""
        if self.estimator is None:
            return None
        return seconds_of(self.estimator(data))

    def summary(self) -> str:
        """One line describing the arguments, such as `duration: time (required)`."""
        parts = []
        for field_name, field in self.args_model.model_fields.items():
            if field.is_required():
                required = "required"
            elif field.default_factory is not None:
                required = "has a default"
            else:
                required = f"default {field.default!r}"
            parts.append(
                f"{field_name}: {_type_name(field.annotation, field.metadata)} ({required})"
            )
        return ", ".join(parts) or "no arguments"


def _type_name(annotation: Any, metadata: list[Any]) -> str:
    # The last QuantityType wins, as in validation: a later one replaces an earlier one.
    for item in reversed(metadata):
        if isinstance(item, QuantityType):
            return item.label
    members = typing.get_args(annotation) if typing.get_origin(annotation) in _UNIONS else ()
    if members:
        # `Annotated[Quantity, Time] | None` and the like: name each member.
        return " | ".join(
            "None" if member is type(None) else _type_name(*_unannotated(member))
            for member in members
        )
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


_UNIONS = (typing.Union, types.UnionType)


def _unannotated(annotation: Any) -> tuple[Any, list[Any]]:
    if typing.get_origin(annotation) is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        return base, metadata
    return annotation, []


@dataclass(frozen=True)
class DeclarationProblem:
    process: str
    reason: str


class Plugin:
    """A namespace of processes, exposed to the host through a `labrun.plugins` entry point."""

    def __init__(self, namespace: str, *, description: str = "") -> None:
        self.namespace = namespace
        self.description = description
        self._processes: dict[str, ProcessSpec] = {}
        self._drivers: dict[str, type[Driver[Any]]] = {}
        self.problems: list[DeclarationProblem] = []
        if not _NAME.match(namespace):
            self.problems.append(
                DeclarationProblem(
                    "", f"invalid namespace {namespace!r}: use lowercase letters, digits and _"
                )
            )

    @property
    def processes(self) -> Mapping[str, ProcessSpec]:
        return self._processes

    @property
    def drivers(self) -> Mapping[str, type[Driver[Any]]]:
        return self._drivers

    def driver(self, name: str) -> Callable[[D], D]:
        """Declare a `SerialDriver` or `VisaDriver` subclass as the driver `name`."""

        def register(cls: D) -> D:
            if not _NAME.match(name):
                reason = f"invalid driver name {name!r}: use lowercase letters, digits and _"
            elif not (isinstance(cls, type) and issubclass(cls, SerialDriver | VisaDriver)):
                reason = f"driver {name!r} must be a class derived from SerialDriver or VisaDriver"
            elif missing := [
                method
                for method in ("identify", "safe_state")
                if getattr(cls, method) is getattr(Driver, method)
            ]:
                reason = f"driver {name!r} must define {' and '.join(f'{m}()' for m in missing)}"
            elif name in self._drivers:
                reason = f"duplicate driver name {name!r}"
            else:
                self._drivers[name] = cls
                return cls
            self.problems.append(DeclarationProblem(name, reason))
            return cls

        return register

    def process(
        self,
        name: str,
        *,
        estimate: Estimate | None = None,
        description: str | None = None,
        background: bool = False,
    ) -> Callable[[F], F]:
        """Declare `async def f(data: ArgsModel, context: ProcessContext)` as a process.

        A `background` process runs beside the other branches of a parallel step until they
        end: it is then sent `FINISH` (through `context.receive()`) and should return."""

        def register(function: F) -> F:
            spec_or_reason = _build_spec(
                self.namespace, name, function, estimate, description, background=background
            )
            if isinstance(spec_or_reason, str):
                self.problems.append(DeclarationProblem(name, spec_or_reason))
            elif name in self._processes:
                self.problems.append(DeclarationProblem(name, f"duplicate process name {name!r}"))
            else:
                self._processes[name] = spec_or_reason
            return function

        return register

    def __repr__(self) -> str:
        return f"Plugin({self.namespace!r}, processes={sorted(self._processes)})"


def _build_spec(
    namespace: str,
    name: str,
    function: Callable[..., Any],
    estimate: Estimate | None,
    description: str | None,
    *,
    background: bool = False,
) -> ProcessSpec | str:
    if not _NAME.match(name):
        return f"invalid process name {name!r}: use lowercase letters, digits and _"
    if not inspect.iscoroutinefunction(function):
        return f"{function.__qualname__} is not an async function (declare it with async def)"
    parameters = list(inspect.signature(function).parameters.values())
    if len(parameters) != 2:
        return f"{function.__qualname__} must take exactly (data, context)"
    from labrun.context import ProcessContext  # noqa: PLC0415 - context imports this module

    try:
        # ProcessContext is often imported under TYPE_CHECKING only; resolve it all the same.
        hints = typing.get_type_hints(function, localns={"ProcessContext": ProcessContext})
    except Exception as error:  # noqa: BLE001 - any failure here is the plugin's to fix
        return f"cannot resolve the annotations of {function.__qualname__}: {error}"
    model = hints.get(parameters[0].name)
    if model is None:
        return f"the argument {parameters[0].name!r} of {function.__qualname__} has no annotation"
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return (
            f"the argument {parameters[0].name!r} of {function.__qualname__} "
            "must be annotated with a pydantic model"
        )
    doc = description if description is not None else inspect.getdoc(function) or ""
    return ProcessSpec(
        namespace,
        name,
        function,
        model,
        estimate,
        doc.split("\n", 1)[0],
        device_fields(model),
        background,
    )


def spec_of(function: Callable[..., Any], *, namespace: str = "local") -> ProcessSpec:
    """A spec for a process function declared on no plugin, for tests and scripts."""
    spec = _build_spec(namespace, getattr(function, "__name__", "process"), function, None, None)
    if isinstance(spec, str):
        raise TypeError(spec)
    return spec
