"""The `record` plugin: sample device values into the run's data."""

from labrun_record.sample import plugin

__all__ = ["plugin"]
