"""The `scpi` plugin object, shared by the modules that declare its drivers and processes."""

from labrun import Plugin

plugin = Plugin(
    "scpi",
    description=(
        "Instruments reached through VISA: any SCPI instrument (raw commands and queries), "
        "a Keysight 34465A multimeter, a SCPI power supply and a Lake Shore 336 "
        "temperature controller."
    ),
)
