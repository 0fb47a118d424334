"""Compile time and peak memory for a generated protocol of 10,000 process steps.

The protocol mixes sequences, repeats, sweeps (over lists and ranges) and parallel
branches, with parameter references. The baseline is composing the same text with PyYAML
(`yaml.compose`, libyaml's composer when present), which any YAML-based compiler pays
before it checks anything; it runs with the garbage collector paused, as the compiler
does, so the ratio compares like with like. Both are measured in this run, after a
warm-up compile (the unit registry and the plugins' validators are built once per process).
Times are the best of several rounds, in CPU time of this process, as in the other
benchmarks, so other work on a shared machine skews them less than wall time would.

    uv run python benchmarks/bench_compile.py [--steps N] [--rounds N]
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import yaml

from labrun import compile, load_plugins, registry
from labrun.catalog import PluginCatalog

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

HEADER = """\
name: Generated benchmark protocol
description: Sequences, repeats, sweeps and parallel branches, generated.
parameters:
  temp: {unit: degC, default: 37 degC, min: 4 degC, max: 95 degC}
  cycles: {type: int, default: 3, min: 1}
  settle: {unit: s, default: 30 s}
steps:
"""


def block(index: int) -> tuple[str, int]:
    """One top-level block of the generated protocol, and how many process steps it has."""
    seconds = 1 + index % 97
    kind = index % 5
    if kind == 0:
        return (
            f"  - timer.wait: {seconds} s\n"
            f"    id: wait-{index}\n"
            f"  - prompt.ask: 'Check well {index} at ${{temp}}'\n"
            f"    name: Check {index}\n",
            2,
        )
    if kind == 1:
        return (
            "  - repeat: ${cycles}\n"
            "    steps:\n"
            f"      - timer.wait: {seconds} s\n"
            "      - timer.wait: ${settle}\n"
            "        on_error: {retry: 2, backoff: 5 s}\n",
            2,
        )
    if kind == 2:
        return (
            "  - sweep: t\n"
            "    values: 20 degC to 40 degC by 10 degC\n"
            "    steps:\n"
            "      - prompt.ask: 'Set the bath to ${t}'\n"
            f"      - timer.wait: {seconds} min\n",
            2,
        )
    if kind == 3:
        return (
            "  - parallel:\n"
            f"      - timer.wait: {seconds} s\n"
            "      - steps:\n"
            "          - timer.wait: 1 min\n"
            "          - prompt.ask: {message: 'Ready?', choices: ['yes', 'no']}\n",
            3,
        )
    return (
        "  - sweep: d\n"
        f"    values: [{seconds} s, {seconds + 1} s]\n"
        "    steps:\n"
        "      - timer.wait: ${d}\n",
        1,
    )


def generate(steps: int) -> str:
    parts = [HEADER]
    count = index = 0
    while count < steps:
        text, added = block(index)
        parts.append(text)
        count += added
        index += 1
    return "".join(parts)


def best_time(function: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        gc.collect()
        started = time.process_time()
        function()
        times.append(time.process_time() - started)
    return min(times)


def peak_memory(function: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    text = generate(args.steps)
    catalog: PluginCatalog = load_plugins()
    started = time.process_time()
    registry()
    print(f"unit registry, built once per process: {time.process_time() - started:.2f} s")

    def compile_it() -> None:
        result = compile("generated.yml", text=text, catalog=catalog)
        assert result.ok, result.diagnostics[:3]

    def compose_it() -> None:
        gc.disable()
        try:
            yaml.compose(text, Loader=LOADER)
        finally:
            gc.enable()

    started = time.process_time()
    compile_it()
    print(f"first compile in this process: {time.process_time() - started:.2f} s")
    result = compile("generated.yml", text=text, catalog=catalog)
    assert result.protocol is not None
    nodes = sum(1 for _ in result.protocol.walk())
    print(
        f"protocol: {args.steps} process steps requested, {result.protocol.process_steps} "
        f"generated, {nodes} tree nodes, {text.count(chr(10))} lines"
    )
    compile_s = best_time(compile_it, args.rounds)
    compose_s = best_time(compose_it, args.rounds)
    compile_mb = peak_memory(compile_it) / 2**20
    compose_mb = peak_memory(compose_it) / 2**20
    print(f"baseline yaml.compose: {compose_s:.3f} s CPU, peak {compose_mb:.1f} MiB")
    print(f"labrun compile:        {compile_s:.3f} s CPU, peak {compile_mb:.1f} MiB (target < 1 s)")
    print(
        f"ratio compile/compose: time {compile_s / compose_s:.2f}x, "
        f"memory {compile_mb / compose_mb:.2f}x"
    )


if __name__ == "__main__":
    main()
