"""`timer.wait`: waits a duration on the run's clock.

The point is the elapsed time in seconds, so a pause (propagated, then restarted from the
point), a retry or a crash-resume all keep the time already waited.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, Field

from labrun import (
    Bounds,
    JumpRequest,
    PauseRequest,
    Plugin,
    ProcessContext,
    QuantityError,
    SwapRequest,
    Time,
    parse_quantity,
    to_seconds,
)

plugin = Plugin("timer", description="Waiting for a duration.")


class WaitArgs(BaseModel):
    duration: Annotated[Time, Bounds(ge="0 s")] = Field(
        description="How long to wait, such as '10 min'."
    )


class WaitLocation(BaseModel):
    elapsed: float = Field(description="Seconds waited so far.")
    remaining: float = Field(description="Seconds left to wait.")
    total: float = Field(description="Seconds to wait in all.")


@plugin.process("wait", estimate=lambda data: data.duration)
async def wait(data: WaitArgs, context: ProcessContext[WaitArgs]) -> None:
    """Wait for a duration; pausable, and a pause keeps the remaining time."""
    context.pausable = True
    total = to_seconds(data.duration)
    elapsed = 0.0
    if context.point is not None:
        start = _seconds_or_none(context.point)
        if start is None:
            context.send_warning(
                f"cannot start from point {context.point!r}: waiting from the beginning",
                code="bad-point",
            )
        else:
            elapsed = _clamp(start, total)
    while True:
        _report(context, elapsed, total)
        started = context.clock.monotonic()
        try:
            await context.wait(context.sleep(total - elapsed))
        except JumpRequest as request:
            target = _seconds_or_none(request.point)
            if target is None:
                elapsed = _clamp(elapsed + context.clock.monotonic() - started, total)
                context.send_warning(
                    f"cannot jump to {request.point!r}: give the elapsed time in seconds "
                    "or as a time such as '5 min'",
                    code="bad-point",
                )
            else:
                elapsed = _clamp(target, total)
            continue
        except SwapRequest as request:
            elapsed += context.clock.monotonic() - started
            total = to_seconds(request.data.duration)
            elapsed = _clamp(elapsed, total)
            continue
        except PauseRequest:
            elapsed = _clamp(elapsed + context.clock.monotonic() - started, total)
            _report(context, elapsed, total)
            raise
        _report(context, total, total)
        return


def _report(context: ProcessContext[WaitArgs], elapsed: float, total: float) -> None:
    location = WaitLocation(elapsed=elapsed, remaining=total - elapsed, total=total)
    context.send_location(location, point=elapsed)
    context.send_duration(total - elapsed)


def _clamp(elapsed: float, total: float) -> float:
    return min(max(elapsed, 0.0), total)


def _seconds_or_none(point: Any) -> float | None:
    if isinstance(point, bool):
        return None
    if isinstance(point, int | float):
        seconds = float(point)
    elif isinstance(point, str):
        try:
            seconds = to_seconds(parse_quantity(point))
        except QuantityError:
            return None
    else:
        return None
    return seconds if math.isfinite(seconds) else None
