"""The `timer` plugin: wait for a duration, with pause, jump and swap."""

from labrun_timer.wait import plugin

__all__ = ["plugin"]
