"""`compile`: a protocol file in, a step tree or every problem found out. Never raises
for bad input: unreadable files, non-YAML, binary junk and alias bombs are diagnostics too.
"""

from __future__ import annotations

import gc
import os
import traceback
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml

from labrun.catalog import PluginCatalog, load_plugins
from labrun.protocol._reader import MAX_NODES, Reader, TooLarge, describe, did_you_mean
from labrun.protocol.devices import DeviceCheck
from labrun.protocol.diagnostic import Diagnostic, sort_key
from labrun.protocol.parameter import Parameter, read_parameters
from labrun.protocol.reference import NAME
from labrun.protocol.scope import Scope
from labrun.protocol.source import Position, Source, compose, decode_source, read_source
from labrun.protocol.steps import StepReader
from labrun.protocol.tree import Protocol

_KEYS = frozenset({"name", "description", "parameters", "devices", "steps"})


@dataclass(frozen=True)
class CompileResult:
    """The compiled protocol when there is no error, and every diagnostic (warnings too)."""

    file: str
    protocol: Protocol | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return self.protocol is not None

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if not d.is_error)


def compile(
    source: str | os.PathLike[str] | None = None,
    *,
    text: str | bytes | None = None,
    catalog: PluginCatalog | None = None,
    devices: Mapping[str, str] | Collection[str] | None = None,
) -> CompileResult:
    """Compile the protocol file at `source`, or `text` (named `source` in diagnostics).

    `catalog` is the installed plugins (loaded when not given); `devices`, when given, is
    the configured devices, which the protocol's `devices:` must use: their names, or a
    mapping of their names to their drivers (`plugin.driver`), which the processes using
    them must accept.
    """
    if source is None and text is None:
        raise TypeError("compile() needs a path or a text")
    name = os.fspath(source) if source is not None else "<text>"
    if text is None:
        read = read_source(name)
    elif isinstance(text, bytes):
        read = decode_source(name, text)
    else:
        read = Source(name, text)
    if isinstance(read, Diagnostic):
        return CompileResult(name, None, (read,))
    try:
        with _collector_paused():
            return _compile(read, catalog if catalog is not None else load_plugins(), devices)
    except Exception as error:  # noqa: BLE001 - a compiler bug must still not raise at callers
        where = traceback.extract_tb(error.__traceback__)[-1]
        message = (
            f"internal error in the protocol compiler: {type(error).__name__}: {error} "
            f"(at {Path(where.filename).name}:{where.lineno}); please report it"
        )
        return CompileResult(name, None, (read.diagnostic(1, 1, message),))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while compiling.

    A compile allocates a few objects per YAML node, nearly all of which live until it
    ends, and makes no reference cycles; the collector would walk them again and again
    for nothing (40% of the time for a large protocol). The same trick as Mercurial's
    `util.nogc`. The collector is left as it was found.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _compile(
    source: Source, catalog: PluginCatalog, devices: Mapping[str, str] | Collection[str] | None
) -> CompileResult:
    composed = compose(source)
    if isinstance(composed, list):
        return CompileResult(source.name, None, tuple(composed))
    reader = Reader(source)
    protocol = None
    try:
        protocol = _document(reader, composed, catalog, devices)
    except TooLarge:
        reader.error(
            Position(source.name, 1, 1),
            f"the protocol is too large: more than {MAX_NODES} YAML nodes "
            "once aliases are expanded",
        )
    diagnostics = tuple(sorted(reader.diagnostics, key=sort_key))
    if reader.failed:
        protocol = None
    return CompileResult(source.name, protocol, diagnostics)


def _document(
    reader: Reader,
    root: yaml.Node | None,
    catalog: PluginCatalog,
    devices: Mapping[str, str] | Collection[str] | None,
) -> Protocol | None:
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == "tag:yaml.org,2002:null"):
        reader.error(
            root or Position(reader.source.name, 1, 1),
            "the protocol is empty",
            "a protocol is a mapping with at least 'steps:', a list of steps",
        )
        return None
    if not isinstance(root, yaml.MappingNode):
        reader.error(
            root,
            f"a protocol is a mapping with 'steps:' (and name, description, parameters, "
            f"devices), got {describe(root)}",
        )
        return None
    fields = reader.mapping(root, "a protocol")
    if fields is None:
        return None
    for key, (key_node, _) in fields.items():
        if key not in _KEYS:
            reader.unknown_key(key_node, key, _KEYS)
    name = Path(reader.source.name).stem
    if "name" in fields:
        name = reader.text(fields["name"][1], "the name") or name
    description = ""
    if "description" in fields:
        description = reader.text(fields["description"][1], "the description") or ""
    parameters: dict[str, Parameter] = {}
    if "parameters" in fields:
        parameters = read_parameters(reader, fields["parameters"][1])
    device_map: dict[str, str] = {}
    if "devices" in fields:
        device_map = _devices(reader, fields["devices"][1], devices)
    if "steps" not in fields:
        reader.error(root, "the protocol has no 'steps'", "add steps: with a list of steps")
        return None
    drivers = devices if isinstance(devices, Mapping) else None
    check = DeviceCheck(device_map, drivers)
    root_step = StepReader(reader, catalog, Scope.of(parameters), check).root(fields["steps"][1])
    if root_step is None:
        return None
    return Protocol(
        name=name,
        description=description,
        file=reader.source.name,
        parameters=MappingProxyType(parameters),
        devices=MappingProxyType(device_map),
        root=root_step,
        device_drivers=MappingProxyType(check.device_drivers()),
    )


def _devices(reader: Reader, node: yaml.Node, configured: Collection[str] | None) -> dict[str, str]:
    """`devices:` maps the names the protocol uses to configured devices."""
    entries = reader.mapping(node, "devices")
    devices: dict[str, str] = {}
    for name, (key_node, value_node) in (entries or {}).items():
        if not NAME.fullmatch(name):
            reader.error(
                key_node, f"invalid device name '{name}'", "a name is letters, digits and _"
            )
            continue
        target = reader.text(value_node, "a configured device name")
        if target is None:
            continue
        if configured is not None and target not in configured:
            hint = did_you_mean(target, configured)
            listing = f"configured devices: {', '.join(sorted(configured)) or 'none'}"
            reader.error(
                value_node,
                f"unknown device '{target}'",
                f"{hint} {listing}" if hint else listing,
            )
        # Kept even when unknown (the protocol fails all the same), so that the steps naming
        # it are not also told that it is undeclared.
        devices[name] = target
    return devices
