"""Step keys: how events name one execution of a step.

A tree path names a node ("2.0"); inside repeats and sweeps the same node runs once per
iteration, so an event's `step` is the path followed by `@` and the iteration of each
enclosing repeat or sweep, outermost first, counted from 0: "2.0@1" is step 2.0 in the
second iteration of repeat 2, "3.1.0@0.4" is step 3.1.0 in the first iteration of loop 3
and the fifth of loop 3.1. A step in no loop is its path alone. Run-level events have the
root's path, "".
"""

from __future__ import annotations

from typing import NamedTuple

RUN = ""


class StepKey(NamedTuple):
    path: str
    iterations: tuple[int, ...] = ()

    def __str__(self) -> str:
        if not self.iterations:
            return self.path
        return f"{self.path}@{'.'.join(map(str, self.iterations))}"


def format_key(path: str, iterations: tuple[int, ...]) -> str:
    return f"{path}@{'.'.join(map(str, iterations))}" if iterations else path


def parse_key(text: str) -> StepKey:
    """The path and iterations of a key; ValueError when it is not one."""
    path, at, rest = text.partition("@")
    if path and not all(part.isdigit() for part in path.split(".")):
        raise ValueError(f"{text!r} is not a step key such as 2.0 or 2.0@1")
    if not at:
        return StepKey(path)
    try:
        iterations = tuple(int(part) for part in rest.split("."))
    except ValueError:
        raise ValueError(f"{text!r} is not a step key such as 2.0 or 2.0@1") from None
    if any(i < 0 for i in iterations):
        raise ValueError(f"{text!r} has a negative iteration")
    return StepKey(path, iterations)


def parent_path(path: str) -> str:
    return path.rpartition(".")[0]


def is_within(path: str, scope: str) -> bool:
    """Whether the node at `path` is the node at `scope` or below it."""
    return not scope or path == scope or path.startswith(scope + ".")
