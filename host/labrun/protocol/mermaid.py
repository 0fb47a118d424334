"""A Mermaid flowchart of a step tree, for docs, reviews and `labrun describe --mermaid`.

Process steps are boxes chained in order; a parallel forks and joins; a repeat or a sweep
is a box around its steps, titled with its count or values. Every step shows its estimate.
"""

from __future__ import annotations

import itertools

from labrun.protocol._format import format_duration, step_label
from labrun.protocol.tree import (
    ParallelStep,
    ProcessStep,
    Protocol,
    Step,
)


def mermaid(protocol: Protocol) -> str:
    """The flowchart's Mermaid source."""
    lines = ["flowchart TD", f"    start([{_label(protocol.name)}])"]
    first, last = _chain(protocol.root.steps, lines, "    ")
    lines.append(f"    finish([{_label('end: ' + format_duration(protocol.estimate))}])")
    lines.append(f"    start --> {first}")
    lines.append(f"    {last} --> finish")
    return "\n".join(lines) + "\n"


def _id(step: Step) -> str:
    return "s" + step.path.replace(".", "_")


def _label(text: str) -> str:
    # Mermaid takes quoted labels; a double quote inside one is written as an entity.
    return '"' + text.replace('"', "#quot;") + '"'


def _chain(steps: tuple[Step, ...], lines: list[str], indent: str) -> tuple[str, str]:
    """Draws `steps` one after the other; the ids of the first and last nodes drawn."""
    ends = [_draw(step, lines, indent) for step in steps]
    for (_, previous), (following, _) in itertools.pairwise(ends):
        lines.append(f"{indent}{previous} --> {following}")
    return ends[0][0], ends[-1][1]


def _draw(step: Step, lines: list[str], indent: str) -> tuple[str, str]:
    node = _id(step)
    title = _label(f"{step_label(step)} ({format_duration(step.estimate)})")
    if isinstance(step, ProcessStep):
        lines.append(f"{indent}{node}[{title}]")
        return node, node
    if isinstance(step, ParallelStep):
        lines.append(f"{indent}{node}_fork{{{{{title}}}}}")
        lines.append(f"{indent}{node}_join{{{{{_label('join')}}}}}")
        for branch in step.branches:
            first, last = _draw(branch, lines, indent)
            lines.append(f"{indent}{node}_fork --> {first}")
            lines.append(f"{indent}{last} --> {node}_join")
        return f"{node}_fork", f"{node}_join"
    lines.append(f"{indent}subgraph {node} [{title}]")
    ends = _chain(step.children, lines, indent + "    ")
    lines.append(f"{indent}end")
    return ends
