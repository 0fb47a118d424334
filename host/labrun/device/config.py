"""The host configuration: one YAML file that declares the bench's devices.

    devices:
      pump:
        driver: syringe.ne1000
        serial: /dev/ttyUSB0
        options: {diameter: 14.5 mm}

The file is `--config`, else $LABRUN_CONFIG, else config.yml in the user's configuration
directory; when that default file does not exist, no device is configured. Every problem is
reported with its line and column, in the form protocol diagnostics take. Driver options
stay raw here: drivers come from plugins, so the bench validates them once the plugins are
loaded, through `HostConfig.validate_options`, which places its errors in this file too.
"""

from __future__ import annotations

import difflib
import os
import pkgutil
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import platformdirs
import serial.urlhandler
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from labrun.device._positions import Document, Loc, invalid, read
from labrun.device.link import SerialSettings, VisaSettings
from labrun.protocol._reader import describe
from labrun.protocol.diagnostic import Diagnostic, Severity, render_all, sort_key
from labrun.protocol.source import Source, decode_source

ENV_VAR = "LABRUN_CONFIG"

M = TypeVar("M", bound=BaseModel)

_DEVICE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_DRIVER = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")

_BACKENDS = frozenset({"py", "sim", "ivi", "ni"})

_DRIVER_HINT = "a driver is plugin.driver, such as syringe.ne1000"
_PORT_HINT = (
    "a port is a device path such as /dev/ttyUSB0 or COM3, or a URL such as "
    "socket://localhost:7000 or rfc2217://host:port"
)
_LIBRARY_HINT = (
    "a VISA library is @py (pyvisa-py), @sim or file.yaml@sim (pyvisa-sim), the path of a "
    "VISA library, or left out for the system's"
)
_TERMINATION_HINT = 'the characters that end a message, such as "\\n" or "\\r\\n" in double quotes'
# Hints for errors pydantic raises itself, by the name of the key at fault.
_HINTS = {
    "devices": "devices: maps each device's name to its driver and connection",
    "driver": _DRIVER_HINT,
    "serial": (
        "serial: is a port such as /dev/ttyUSB0 or socket://localhost:7000, or a mapping "
        "with port: and the line's settings"
    ),
    "visa": (
        "visa: is a VISA resource such as TCPIP::192.168.1.20::INSTR, or a mapping with "
        "resource: and library:"
    ),
    "options": "options: is a mapping of the driver's options",
    "io_log": "write true or false",
    "simulator": "pty serves a simulated device on a pseudo-terminal, tcp on a local port",
    "port": _PORT_HINT,
    "baudrate": "the baud rate is a whole number of bits per second, such as 9600",
    "parity": "N (none), E (even), O (odd), M (mark) or S (space)",
    "timeout": "seconds to wait for a whole reply, such as 2",
    "resource": "a VISA resource such as USB0::0x2A8D::0x0101::MY57700001::INSTR",
    "library": _LIBRARY_HINT,
    "read_termination": _TERMINATION_HINT,
    "write_termination": _TERMINATION_HINT,
}
_DEVICE_HINT = "a device is a mapping with driver: and serial: or visa:"


def _device_name(name: str) -> str:
    if not _DEVICE_NAME.fullmatch(name):
        raise invalid(
            f"invalid device name '{name}'",
            "a device name is letters, digits and _, and starts with a letter",
        )
    return name


def _driver(name: str) -> str:
    if not _DRIVER.fullmatch(name):
        raise invalid(f"'{name}' is not a driver name", _DRIVER_HINT)
    return name


@cache
def _url_schemes() -> tuple[str, ...]:
    prefix = "protocol_"
    return tuple(
        sorted(
            module.name.removeprefix(prefix)
            for module in pkgutil.iter_modules(serial.urlhandler.__path__)
            if module.name.startswith(prefix)
        )
    )


def _port(port: str) -> str:
    if not port.strip():
        raise invalid("the port is empty", _PORT_HINT)
    url = _URL.match(port)
    if url is not None and url[1] not in _url_schemes():
        close = difflib.get_close_matches(url[1], _url_schemes(), n=1)
        known = f"serial URLs start with {', '.join(f'{s}://' for s in _url_schemes())}"
        hint = f"did you mean {close[0]}://? {known}" if close else known
        raise invalid(f"unknown serial URL scheme '{url[1]}://'", hint)
    return port


def _resource(resource: str) -> str:
    if not resource.strip():
        raise invalid("the VISA resource is empty", _HINTS["resource"])
    return resource


class SerialConfig(SerialSettings):
    """A serial connection: the port, and the settings that differ from the driver's.

    Open the link with `settings(driver.serial)`, not with this object: the settings the file
    leaves out hold the generic defaults here, where the driver's own are wanted."""

    port: Annotated[str, AfterValidator(_port)]

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, value: Any) -> Any:
        # `serial: /dev/ttyUSB0` stands for `serial: {port: /dev/ttyUSB0}`.
        return {"port": value} if isinstance(value, str) else value

    def settings(self, defaults: SerialSettings) -> SerialSettings:
        """The driver's `defaults` with the settings this file gives."""
        given = self.model_fields_set & SerialSettings.model_fields.keys()
        return defaults.model_copy(update={name: getattr(self, name) for name in given})


class VisaConfig(VisaSettings):
    """A VISA connection: the resource, the VISA library (empty for the system's, `@py`,
    `@sim`, `file.yaml@sim`), and the settings that differ from the driver's; open the link
    with `settings(driver.visa)`, as for SerialConfig."""

    resource: Annotated[str, AfterValidator(_resource)]
    library: str = ""

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, value: Any) -> Any:
        return {"resource": value} if isinstance(value, str) else value

    @field_validator("library")
    @classmethod
    def _library(cls, library: str, info: ValidationInfo) -> str:
        file, at, backend = library.rpartition("@")
        if not at:
            # Without an @, pyvisa takes the text for the path of a library file.
            if library in _BACKENDS:
                raise invalid(f"unknown VISA library '{library}'", f"did you mean @{library}?")
            if library and not any(mark in library for mark in "/\\."):
                raise invalid(f"unknown VISA library '{library}'", _LIBRARY_HINT)
            return library
        if backend == "sim" and file:
            # A pyvisa-sim file sits next to the configuration, wherever labrun is started.
            base = (info.context or {}).get("base")
            path = Path(file).expanduser()
            if base is not None and not path.is_absolute():
                path = Path(base) / path
            return f"{path}@sim"
        return library

    def settings(self, defaults: VisaSettings) -> VisaSettings:
        """The driver's `defaults` with the settings this file gives."""
        given = self.model_fields_set & VisaSettings.model_fields.keys()
        return defaults.model_copy(update={name: getattr(self, name) for name in given})


class DeviceConfig(BaseModel):
    """One device: its driver (`plugin.driver`), its connection, the driver's options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    driver: Annotated[str, AfterValidator(_driver)]
    serial: SerialConfig | None = None
    visa: VisaConfig | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    io_log: StrictBool = Field(False, description="log every frame to and from the device")
    simulator: Literal["pty", "tcp"] = Field(
        "pty", description="how --simulate serves this serial device"
    )

    @field_validator("options", mode="before")
    @classmethod
    def _no_options(cls, options: Any) -> Any:
        return {} if options is None else options

    @model_validator(mode="after")
    def _one_connection(self) -> DeviceConfig:
        if self.serial is not None and self.visa is not None:
            raise invalid(
                "a device has one connection: serial: or visa:, not both",
                "remove one of them",
                key="visa",
            )
        if self.visa is not None and "simulator" in self.model_fields_set:
            raise invalid(
                "simulator: is for serial devices",
                "a VISA device is simulated by its driver's pyvisa-sim file; remove simulator:",
                key="simulator",
            )
        return self

    @property
    def connection(self) -> Literal["serial", "visa"] | None:
        """How the device is reached; None when only a simulated one can be used."""
        if self.serial is not None:
            return "serial"
        if self.visa is not None:
            return "visa"
        return None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    devices: dict[Annotated[str, AfterValidator(_device_name)], DeviceConfig] = Field(
        default_factory=dict
    )

    @field_validator("devices", mode="before")
    @classmethod
    def _no_devices(cls, devices: Any) -> Any:
        # `devices:` with every device commented out.
        return {} if devices is None else devices


class ConfigError(Exception):
    """The configuration cannot be used; `problems` says where and why."""

    def __init__(self, problems: Sequence[Diagnostic]) -> None:
        self.problems = tuple(sorted(problems, key=sort_key))
        super().__init__(self.render())

    def render(self) -> str:
        return render_all(self.problems)


@dataclass(frozen=True)
class HostConfig:
    """The configured devices. `source` names the file in messages; `path` is the file read,
    None when there is none (no default file, or text given to `parse_config`)."""

    devices: Mapping[str, DeviceConfig]
    source: str
    path: Path | None = None
    _document: Document | None = field(default=None, repr=False, compare=False)

    def validate_options(self, device: str, model: type[M]) -> M:
        """The options of the configured `device` validated by `model` (its driver's
        Options); ConfigError with each problem placed on the option in the file."""
        loc: Loc = ("devices", device, "options")
        try:
            return model.model_validate(self.devices[device].options)
        except ValidationError as error:
            problems = [
                self._located.diagnostic(item, model, prefix=loc, hints=_no_hints)
                for item in error.errors()
            ]
        except Exception as error:  # noqa: BLE001 - a plugin's validator may raise anything
            message = f"the driver's options raised {type(error).__name__}: {error}"
            problems = [self.problem(loc, f"devices.{device}.options: {message}")]
        raise ConfigError(problems) from None

    def problem(
        self, loc: Sequence[str | int], message: str, hint: str | None = None, *, key: bool = False
    ) -> Diagnostic:
        """A problem placed on the value at `loc` (such as ("devices", "pump", "driver")),
        or on its key; on the key of the nearest enclosing part written in the file when
        `loc` is not there (such as options: left out)."""
        return self._located.at(loc, message, hint, key=key)

    @property
    def _located(self) -> Document:
        return self._document or Document(Source(self.source, ""), None, {}, ())


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir("labrun")) / "config.yml"


def load_config(path: Path | None = None, *, env: Mapping[str, str] | None = None) -> HostConfig:
    """The configuration in `path` (--config), else in $LABRUN_CONFIG, else in the default
    file; an empty one when the default file does not exist. ConfigError otherwise."""
    env = os.environ if env is None else env
    if path is not None:
        return _load(path.expanduser(), required="it was given with --config")
    if env.get(ENV_VAR):
        return _load(Path(env[ENV_VAR]).expanduser(), required=f"it was given by ${ENV_VAR}")
    return _load(default_config_path(), required=None)


def parse_config(text: str, name: str = "<config>", *, base: Path | None = None) -> HostConfig:
    """The configuration in `text`, named `name` in messages; relative pyvisa-sim files are
    taken from `base`."""
    return _parse(Source(name, text), None, base)


def _load(path: Path, required: str | None) -> HostConfig:
    name = os.fspath(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if required is None:
            return HostConfig(types.MappingProxyType({}), name)
        hint = f"{required}; check the path"
        raise ConfigError([_file_problem(name, "the file does not exist", hint)]) from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError([_file_problem(name, f"cannot read the file: {reason}")]) from None
    source = decode_source(name, data)
    if isinstance(source, Diagnostic):
        raise ConfigError([source])
    return _parse(source, path, path.parent)


def _file_problem(name: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(name, 0, 0, Severity.ERROR, message, hint)


def _parse(source: Source, path: Path | None, base: Path | None) -> HostConfig:
    document = read(source)
    if isinstance(document, list):
        raise ConfigError(document)
    problems = list(document.problems)
    value = {} if document.value is None else document.value
    if not isinstance(value, dict):
        root = document.index[()].value
        message = f"the configuration must be a mapping with devices:, got {describe(root)}"
        hint = "start the file with devices: and one device per key under it"
        raise ConfigError([*problems, document.problem(root, message, hint)])
    try:
        parsed = _File.model_validate(value, context={"base": base})
    except ValidationError as error:
        taken = {(problem.line, problem.column) for problem in problems}
        for item in error.errors():
            problem = document.diagnostic(item, _File, hints=_hint)
            # A value the reader already rejected is also invalid to pydantic; once is enough.
            if (problem.line, problem.column) not in taken:
                problems.append(problem)
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return HostConfig(types.MappingProxyType(parsed.devices), source.name, path, document)


def _hint(loc: Loc) -> str | None:
    if len(loc) == 2 and loc[0] == "devices":
        return _DEVICE_HINT
    last = loc[-1] if loc else None
    return _HINTS.get(last) if isinstance(last, str) else None


def _no_hints(loc: Loc) -> None:
    # Options belong to plugins, whose keys may share names with this file's.
    return None
