"""The live display: the step tree, running steps highlighted, states, where each step is,
its elapsed time, and the run's time left."""

import asyncio
import io
import re
import sys

from rich.console import Console

from labrun.cli import main
from labrun.cli._live import LiveView
from labrun.clock import VirtualClock
from labrun.protocol import compile
from labrun.run.engine import Run

PROTOCOL = """
name: live
steps:
  - timer.wait: 10 min
    id: warm
  - repeat: 3
    id: cycle
    steps:
      - parallel:
          - timer.wait: 5 min
            id: heat
          - prompt.ask: {message: "Plate ID?"}
            id: plate
  - timer.wait: 1 min
    id: cool
"""


def text(renderable) -> list[str]:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(renderable)
    return [line.rstrip() for line in console.file.getvalue().splitlines()]


async def test_the_tree_shows_states_locations_elapsed_times_and_time_left():
    protocol = compile(text=PROTOCOL).protocol
    clock = VirtualClock()
    run = Run(protocol, protocol.bind({}), clock=clock)
    view = LiveView(run, "live")
    assert text(view.render()) == [
        "live  pending  elapsed 0:00:00  left unknown",
        "├── 0          warm (timer.wait)  pending",
        "├── 1          cycle (repeat)  pending",
        "└── 2          cool (timer.wait)  pending",
    ]
    task = asyncio.create_task(run.run())
    await clock.sleep(12 * 60)
    lines = text(view.render())
    assert lines[0] == "live  running  elapsed 0:12:00  left unknown"
    assert lines[1] == "├── 0          warm (timer.wait)  completed  0:10:00"
    assert lines[2] == "├── 1          cycle (repeat)  running  iteration 1 of 3  0:02:00"
    assert lines[3] == "│   └── 1.0@0      parallel  running  0:02:00"
    assert lines[4].startswith("│       ├── 1.0.0@0    heat (timer.wait)  running  elapsed=0.0")
    assert (
        lines[5] == "│       └── 1.0.1@0    plate (prompt.ask)  running  asks: Plate ID?  0:02:00"
    )
    assert lines[6] == "└── 2          cool (timer.wait)  pending"
    run.halt()
    await task


def test_on_a_terminal_the_cli_shows_the_live_display(tmp_path, capsys, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    file = tmp_path / "p.yaml"
    file.write_text("name: tty\nsteps:\n  - timer.wait: 1 h\n    id: warm\n")
    assert main(["run", str(file), "--dry-run"]) == 0
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "tty  completed  elapsed 1:00:00  left 0:00:00" in shown
    assert "warm (timer.wait)  completed" in shown
    assert "+01:00:00  0            completed" in shown
    assert "Traceback" not in shown
