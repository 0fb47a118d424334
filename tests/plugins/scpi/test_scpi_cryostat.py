"""The simulated Lake Shore 336's physics, on the virtual clock: a cryostat that follows the
setpoint at the ramp rate or the heater's pace, and drifts back to the room's temperature
with the heater off (labrun_scpi/cryostat.py gives the numbers)."""

import io
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from scpi_bench import Bench

from labrun import StepState, registry
from labrun.cli import main
from labrun.testing import ProcessRun, run_process
from labrun_scpi import LakeShore336, plugin
from labrun_scpi.cryostat import HOLDING

SETPOINT = plugin.processes["lakeshore_setpoint"]
Q = registry().Quantity
CRYOSTAT_RAMP = Path(__file__).parents[3] / "protocols" / "cryostat_ramp.yml"


async def cryostat(bench: Bench, **options: Any) -> LakeShore336:
    controller: LakeShore336 = await bench.open(LakeShore336, "ls", **options)
    return controller


async def settle(bench: Bench, controller: LakeShore336, **data: Any) -> ProcessRun:
    return await run_process(
        SETPOINT, {"controller": "ls"} | data, clock=bench.clock, devices={"ls": controller}
    )


async def reading(controller: LakeShore336) -> float:
    kelvin: float = (await controller.temperature()).m_as("K")
    return kelvin


async def after(bench: Bench, seconds: float) -> None:
    await bench.clock.sleep(seconds)


async def test_the_cryostat_starts_at_room_temperature(bench: Bench) -> None:
    controller = await cryostat(bench)
    assert await reading(controller) == 295
    assert await controller.ramping() is False
    assert (await controller.heater_output()).m_as("percent") == 0


async def test_a_ramped_setpoint_is_followed_at_the_ramp_rate(bench: Bench) -> None:
    controller = await cryostat(bench)
    run = await settle(
        bench, controller, setpoint="310 K", ramp="2 K/min", heater_range=2, wait=False
    )
    assert run.state is StepState.COMPLETED
    # The heater came on after the setpoint: the ramp starts at the reading, 295 K.
    assert await reading(controller) == 295
    assert await controller.ramping() is True
    await after(bench, 3 * 60)
    assert await reading(controller) == 301
    assert await controller.ramping() is True
    assert (await controller.heater_output()).m_as("percent") == HOLDING
    await after(bench, 4.5 * 60)
    assert await reading(controller) == 310
    assert await controller.ramping() is False
    # SETP? answers the target all along, as the driver's read-back needs.
    assert (await controller.setpoint()).m_as("K") == 310


async def test_a_new_setpoint_ramps_on_from_where_the_ramp_was(bench: Bench) -> None:
    controller = await cryostat(bench)
    await settle(bench, controller, setpoint="310 K", ramp="2 K/min", heater_range=2, wait=False)
    await after(bench, 3 * 60)
    await settle(bench, controller, setpoint="300 K", ramp="2 K/min", wait=False)
    # From 301 K down to 300 K at 2 K/min, not from the 310 K target.
    await after(bench, 30)
    assert await reading(controller) == 300
    assert await controller.ramping() is False


async def test_turning_the_ramp_off_moves_the_setpoint_at_once(bench: Bench) -> None:
    controller = await cryostat(bench)
    await settle(bench, controller, setpoint="310 K", ramp="2 K/min", heater_range=2, wait=False)
    await after(bench, 60)
    await controller.set_ramp(None)
    assert await controller.ramping() is False
    # 297 K at the medium range's 10 K/min.
    await after(bench, 60)
    assert await reading(controller) == 307


@pytest.mark.parametrize(("heater_range", "kelvin"), [(1, 296), (2, 305), (3, 320)])
async def test_without_a_ramp_the_heater_range_sets_the_pace(
    bench: Bench, heater_range: int, kelvin: float
) -> None:
    controller = await cryostat(bench)
    await settle(bench, controller, setpoint="320 K", heater_range=heater_range, wait=False)
    await after(bench, 60)
    assert await reading(controller) == kelvin
    # Climbing, the heater gives all it has; once there, what holding takes.
    climbing = kelvin < 320
    assert (await controller.heater_output()).m_as("percent") == (100 if climbing else HOLDING)


async def test_a_ramp_faster_than_the_heater_leaves_the_temperature_behind(
    bench: Bench,
) -> None:
    controller = await cryostat(bench)
    await settle(bench, controller, setpoint="320 K", ramp="5 K/min", heater_range=1, wait=False)
    await after(bench, 2 * 60)
    # The setpoint is at 305 K; the low range heats at 1 K/min.
    assert await reading(controller) == 297
    assert (await controller.heater_output()).m_as("percent") == 100


async def test_below_the_room_the_cryostat_cools_at_its_own_pace(bench: Bench) -> None:
    controller = await cryostat(bench)
    await settle(bench, controller, setpoint="285 K", heater_range=1, wait=False)
    await after(bench, 60)
    assert await reading(controller) == 290
    assert (await controller.heater_output()).m_as("percent") == 0
    await after(bench, 60)
    assert await reading(controller) == 285


async def test_with_the_heater_off_the_temperature_drifts_back_to_the_room(
    bench: Bench,
) -> None:
    controller = await cryostat(bench)
    await settle(bench, controller, setpoint="310 K", heater_range=3, wait=False)
    await after(bench, 60)
    assert await reading(controller) == 310
    await controller.set_heater_range(0)
    assert (await controller.heater_output()).m_as("percent") == 0
    # 15 K above the room, shrinking with a 15 min time constant.
    await after(bench, 15 * 60)
    assert await reading(controller) == pytest.approx(295 + 15 / 2.718281828, abs=0.001)
    await after(bench, 3 * 3600)
    assert await reading(controller) == pytest.approx(295, abs=0.01)


async def test_a_setpoint_in_celsius_is_followed_in_kelvin(bench: Bench) -> None:
    controller = await cryostat(bench)
    await controller.send("INTYPE A,1,0,1,0,2")
    await controller.connect()
    await settle(bench, controller, setpoint="30 degC", heater_range=3, wait=False)
    assert await bench.ask("SETP? 1", "ls") == "+30.000"
    await after(bench, 60)
    assert await reading(controller) == pytest.approx(303.15)


async def test_output_2_drives_input_b_and_leaves_input_a(bench: Bench) -> None:
    controller = await cryostat(bench, options={"output": 2})
    await settle(bench, controller, setpoint="300 K", heater_range=3, wait=False)
    await after(bench, 60)
    assert await bench.ask("KRDG? B", "ls") == "+300.000"
    assert await bench.ask("KRDG? A", "ls") == "+295.000"
    assert await bench.ask("KRDG? C", "ls") == "+295.000"


@pytest.mark.parametrize(
    ("ramp", "reached"),
    [
        # 15 K at the ramp rate: the temperature follows the setpoint to its end.
        ({"ramp": "2 K/min"}, 450),
        # 15 K at the medium range's 10 K/min.
        ({}, 90),
    ],
)
async def test_the_wait_ends_a_hold_after_the_setpoint_is_reached(
    bench: Bench, ramp: dict[str, str], reached: float
) -> None:
    controller = await cryostat(bench)
    data = {"setpoint": "310 K", "heater_range": 2, "hold": "1 min", "timeout": "1 h"}
    run = await settle(bench, controller, **data, **ramp)
    assert run.state is StepState.COMPLETED
    assert run.elapsed == reached + 60
    assert run.locations[-1]["temperature"] == {"magnitude": 310.0, "units": "kelvin"}


async def test_a_setpoint_too_far_for_the_timeout_fails_it(bench: Bench) -> None:
    controller = await cryostat(bench)
    run = await settle(bench, controller, setpoint="77 K", heater_range=3, timeout="10 min")
    assert run.state is StepState.FAILED
    # Cooling at 5 K/min for 10 min.
    assert run.error == "ls was not stable at 77 K within 0.1 K after 600 s: it reads 245 K"


async def test_a_reconnection_finds_the_cryostat_where_it_went(bench: Bench) -> None:
    controller = await cryostat(bench)
    await settle(bench, controller, setpoint="310 K", ramp="2 K/min", heater_range=2, wait=False)
    await after(bench, 60)
    link = bench.links["ls"]
    await link.close()
    await after(bench, 60)
    await link.open()
    assert await reading(controller) == 299
    await after(bench, 60)
    assert await reading(controller) == 301


def test_the_cryostat_example_dry_runs_to_its_setpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.delenv("LABRUN_CONFIG", raising=False)
    # With a timeout, so that a cryostat that never gets there fails the run, not hangs it.
    protocol = yaml.safe_load(CRYOSTAT_RAMP.read_text())
    protocol["steps"][0]["scpi.lakeshore_setpoint"]["timeout"] = "1 h"
    path = tmp_path / CRYOSTAT_RAMP.name
    path.write_text(yaml.safe_dump(protocol, sort_keys=False))
    code = main(["run", str(path), "--dry-run", "-p", "target=310 K"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    # 295 K to 310 K at 5 K/min, then the 30 s hold.
    assert out.out.splitlines()[-1] == "dry run completed after 0:03:30"
