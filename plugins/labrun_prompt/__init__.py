"""The `prompt` plugin: ask the operator and wait for the answer."""

from labrun_prompt.ask import plugin

__all__ = ["plugin"]
