"""`record.sample`: reads device values at an interval into the run's data.

Each sample is one row of the run's data (`context.send_data`), a column per value named
`device.value`, quantities with their units; `labrun runs export RUN_ID --data` writes the
rows as CSV. With a `duration` it samples for that long. Without one it is a background
step: beside other branches of a parallel step it samples until they have all ended.

It only reads, so it shares its devices (`DeviceRef(shared=True)`) with the steps that
drive them instead of claiming them. The point is the number of samples taken, so a
restart after a pause or a crash goes on counting where it was.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from labrun import (
    FINISH,
    Bounds,
    DeviceRef,
    DeviceValue,
    Driver,
    Plugin,
    ProcessContext,
    Time,
    to_seconds,
)

plugin = Plugin("record", description="Sampling device values into the run's data.")


class SampleArgs(BaseModel):
    devices: Annotated[list[str], DeviceRef(shared=True)] = Field(
        min_length=1, description="The devices to sample, by the protocol's names for them."
    )
    values: list[str] | None = Field(
        None, description="Which of their values (by name); every value when not given."
    )
    interval: Annotated[Time, Bounds(gt="0 s")] = Field(
        "1 s", validate_default=True, description="Time between two samples."
    )
    duration: Annotated[Time, Bounds(ge="0 s")] | None = Field(
        None,
        description="How long to sample; without it, until the other branches of the "
        "parallel step around it end.",
    )


def _estimate(data: SampleArgs) -> Any:
    return data.duration


@plugin.process("sample", estimate=_estimate, background=True)
async def sample(data: SampleArgs, context: ProcessContext[SampleArgs]) -> dict[str, int]:
    """Sample device values at an interval, for a duration or beside other steps."""
    context.pausable = True
    columns = _columns(data, context)
    interval = to_seconds(data.interval)
    total = None if data.duration is None else to_seconds(data.duration)
    taken = context.point if isinstance(context.point, int) and context.point >= 0 else 0
    while True:
        row: dict[str, Any] = {}
        for device, driver, value in columns:
            row[f"{device}.{value.name}"] = await driver.read(value.name)
        context.send_data(row)
        taken += 1
        context.send_location({"samples": taken, "last": row}, point=taken)
        if total is not None:
            # Samples fall at 0, interval, 2 intervals... and the last one at the end.
            remaining = total - (taken - 1) * interval
            if remaining <= 0:
                break
            context.send_duration(remaining)
            await context.wait(context.sleep(min(interval, remaining)))
            continue
        try:
            message = await context.receive(within=interval)
        except TimeoutError:
            continue
        if message == FINISH:
            break
    return {"samples": taken}


def _columns(
    data: SampleArgs, context: ProcessContext[SampleArgs]
) -> list[tuple[str, Driver[Any], DeviceValue]]:
    columns = []
    wanted = None if data.values is None else set(data.values)
    for device in data.devices:
        driver = context.device(device)
        for value in driver.values:
            if wanted is None or value.name in wanted:
                columns.append((device, driver, value))
    missing = sorted((wanted or set()) - {value.name for _, _, value in columns})
    if missing:
        known = sorted({v.name for d in data.devices for v in context.device(d).values})
        raise ValueError(
            f"no value named {', '.join(missing)} on {', '.join(data.devices)}; "
            f"their values: {', '.join(known) or 'none'}"
        )
    if not columns:
        raise ValueError(f"{', '.join(data.devices)} declare no values to sample")
    return columns
