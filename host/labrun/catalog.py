"""Discovering plugins through the `labrun.plugins` entry points.

A plugin that fails to import or declares its processes badly becomes a `LoadDiagnostic`;
it is left out and every other plugin still loads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from labrun.device.driver import Driver
from labrun.plugin import Plugin, ProcessSpec

GROUP = "labrun.plugins"


@dataclass(frozen=True)
class LoadDiagnostic:
    plugin: str
    reason: str

    def __str__(self) -> str:
        return f"{self.plugin}: {self.reason}"


@dataclass(frozen=True)
class PluginCatalog:
    plugins: Mapping[str, Plugin] = field(default_factory=dict)
    diagnostics: tuple[LoadDiagnostic, ...] = ()

    @classmethod
    def of(cls, *plugins: Plugin) -> PluginCatalog:
        """A catalog of the given plugins, checked as if they had been discovered."""
        return _assemble((plugin.namespace, plugin) for plugin in plugins)

    def process(self, qualified_name: str) -> ProcessSpec | None:
        namespace, _, name = qualified_name.partition(".")
        plugin = self.plugins.get(namespace)
        return plugin.processes.get(name) if plugin is not None else None

    def driver(self, qualified_name: str) -> type[Driver[Any]] | None:
        """The driver class for `plugin.driver`, if a loaded plugin declares it."""
        namespace, _, name = qualified_name.partition(".")
        plugin = self.plugins.get(namespace)
        return plugin.drivers.get(name) if plugin is not None else None

    def drivers(self) -> Iterator[tuple[str, type[Driver[Any]]]]:
        for namespace in sorted(self.plugins):
            plugin = self.plugins[namespace]
            for name in sorted(plugin.drivers):
                yield f"{namespace}.{name}", plugin.drivers[name]

    def processes(self) -> Iterator[ProcessSpec]:
        for namespace in sorted(self.plugins):
            plugin = self.plugins[namespace]
            for name in sorted(plugin.processes):
                yield plugin.processes[name]


def load_plugins(found: Iterable[EntryPoint] | None = None) -> PluginCatalog:
    """Load every plugin registered under the `labrun.plugins` entry-point group."""
    if found is None:
        found = entry_points(group=GROUP)
    loaded: list[tuple[str, Plugin | LoadDiagnostic]] = []
    for entry_point in sorted(found, key=lambda e: e.name):
        loaded.append((entry_point.name, _load_one(entry_point)))
    return _assemble(loaded)


def _load_one(entry_point: EntryPoint) -> Plugin | LoadDiagnostic:
    try:
        plugin = entry_point.load()
    except Exception as error:  # noqa: BLE001 - a broken plugin must not stop the others
        reason = f"failed to import {entry_point.value}: {type(error).__name__}: {error}"
        return LoadDiagnostic(entry_point.name, reason)
    if not isinstance(plugin, Plugin):
        reason = f"{entry_point.value} is a {type(plugin).__name__}, not a labrun Plugin"
        return LoadDiagnostic(entry_point.name, reason)
    return plugin


def _assemble(loaded: Iterable[tuple[str, Plugin | LoadDiagnostic]]) -> PluginCatalog:
    plugins: dict[str, Plugin] = {}
    diagnostics: list[LoadDiagnostic] = []
    for name, item in loaded:
        if isinstance(item, LoadDiagnostic):
            diagnostics.append(item)
        elif item.problems:
            diagnostics.extend(
                LoadDiagnostic(
                    name, f"process {p.process!r}: {p.reason}" if p.process else p.reason
                )
                for p in item.problems
            )
        elif item.namespace in plugins:
            diagnostics.append(
                LoadDiagnostic(
                    name, f"namespace {item.namespace!r} is already used by another plugin"
                )
            )
        else:
            plugins[item.namespace] = item
    return PluginCatalog(plugins, tuple(diagnostics))
