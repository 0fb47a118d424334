"""The `tempmodule` plugin object, on which the driver and the processes are declared."""

from __future__ import annotations

from labrun import Plugin

plugin = Plugin(
    "tempmodule",
    description="The Opentrons Temperature Module GEN2: set a temperature and wait for it.",
)
