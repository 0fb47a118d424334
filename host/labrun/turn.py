"""Turns: how long labrun's own code may keep the event loop before letting others in.

A checkpoint with nothing pending returns at once (SEMANTICS.md), and a run of steps that
never wait would then hold the loop for good: no request, websocket message or Ctrl-C
could get in. So the code that can go on without waiting (checkpoints, the walk from one
step to the next) asks `turn()`, which yields once the loop has been held for a slice.
This is the cooperative budget of other schedulers (Tokio's, Trio's checkpoints), and it
keeps a loop trip off every no-op step: a trip costs more than the rest of such a step.
"""

from __future__ import annotations

import asyncio
import threading
from time import perf_counter

# Short enough that an operator's request is taken within a frame of the UI, long enough
# that the trip it costs is lost among the steps run meanwhile.
SLICE = 0.002


class _Deadline(threading.local):
    # Per thread, as event loops are: a simulator's loop in another thread must not put
    # off this one's turn.
    at = 0.0


_deadline = _Deadline()


def due() -> bool:
    """Whether labrun code has held the loop for a slice since its last yield: a check
    cheaper than `await turn()` for the hottest paths."""
    return perf_counter() >= _deadline.at


async def turn() -> None:
    """Yield to the loop if labrun code has held it for a slice since its last yield."""
    deadline = _deadline
    if perf_counter() >= deadline.at:
        await asyncio.sleep(0)
        deadline.at = perf_counter() + SLICE
