"""The `syringe` plugin object, which the driver and process modules register with."""

from labrun import Plugin

plugin = Plugin(
    "syringe",
    description="Syringe pumps: the New Era NE-1000 on RS-232, infusing and withdrawing volumes.",
)
