"""The Lake Shore 336 driver and `scpi.lakeshore_setpoint` on pyvisa-sim.

These tests open the simulation file's table alone, without the plugin's physics (which
test_scpi_cryostat.py tests): it always reads 300 K. Tests of the wait that need the
temperature to move use a copy of it with one extra, simulator-only command,
`SIM:KRDG <input>,<K>`, sent at a chosen virtual time while the step runs.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import ValidationError
from scpi_bench import Bench, device

from labrun import (
    DeviceDisconnected,
    DeviceTimeout,
    StepState,
    registry,
)
from labrun.testing import ProcessRun, Script, run_process
from labrun_scpi import LakeShore336, plugin
from labrun_scpi.setpoint import SetpointArgs

SETPOINT = plugin.processes["lakeshore_setpoint"]
Q = registry().Quantity
CONFIGURE = ["RAMP 1,0,0", "SETP 1,300.0", "SETP? 1"]
POLL = ["KRDG? A", "RAMPST? 1"]


async def table(bench: Bench, **options: Any) -> LakeShore336:
    """The controller on the file's table alone: the readings are the test's to choose."""
    controller: LakeShore336 = await bench.open(LakeShore336, "ls", physics=False, **options)
    return controller


def movable(document: dict[str, Any]) -> None:
    inputs = device(document)["channels"]["inputs"]["properties"]
    inputs["temperature"]["setter"] = {"q": "SIM:KRDG {ch_id},{:s}"}


def later(bench: Bench, seconds: float, action: Callable[[], Awaitable[Any]]) -> asyncio.Task[Any]:
    """Do `action` at `seconds` of virtual time, while a step runs."""

    async def run() -> Any:
        await bench.clock.sleep(seconds)
        return await action()

    return asyncio.create_task(run())


def move(bench: Bench, seconds: float, kelvin: float) -> asyncio.Task[Any]:
    return later(bench, seconds, lambda: bench.links["ls"].write(f"SIM:KRDG A,{kelvin}"))


async def settle(
    bench: Bench, controller: LakeShore336, script: Script | None = None, **data: Any
) -> ProcessRun:
    return await run_process(
        SETPOINT,
        {"controller": "ls"} | data,
        script=script,
        clock=bench.clock,
        devices={"ls": controller},
    )


async def test_connect_learns_the_control_loop(bench: Bench) -> None:
    controller = await table(bench)
    assert bench.sent("ls") == ["OUTMODE? 1", "INTYPE? A"]
    assert controller.input == "A"
    assert await controller.identify() == "LSCI,MODEL336,LSA1234,2.9"


async def test_output_2_is_controlled_by_input_b(bench: Bench) -> None:
    controller = await table(bench, options={"output": 2})
    assert bench.sent("ls") == ["OUTMODE? 2", "INTYPE? B"]
    await controller.set_heater_range(1)
    assert await bench.ask("RANGE? 2", "ls") == "1"
    assert await bench.ask("RANGE? 1", "ls") == "0"


async def test_a_reading_at_the_setpoint_is_stable_after_the_hold(bench: Bench) -> None:
    controller = await table(bench)
    bench.forget("ls")
    run = await settle(bench, controller, setpoint="300 K", hold="1 min", poll="10 s")
    assert run.state is StepState.COMPLETED
    assert run.elapsed == 60
    # The range was not given: it is read, kept as the point, and left as it was.
    assert bench.sent("ls") == [*CONFIGURE, "RANGE? 1"] + POLL * 7
    assert [location["stable_for"] for location in run.locations] == [0, 10, 20, 30, 40, 50, 60]
    assert run.points[-1] == {"heater_range": 0}
    assert run.durations == [60, 50, 40, 30, 20, 10, 0]
    assert [d["code"] for d in run.diagnostics] == ["heater-off"]
    assert run.locations[-1] == {
        "setpoint": {"magnitude": 300.0, "units": "kelvin"},
        "temperature": {"magnitude": 300.0, "units": "kelvin"},
        "ramping": False,
        "heater_range": 0,
        "stable_for": 60,
        "hold": 60,
    }


async def test_setpoint_ramp_and_range_without_waiting(bench: Bench) -> None:
    controller = await table(bench)
    bench.forget("ls")
    run = await settle(
        bench, controller, setpoint="-196 degC", ramp="2 K/min", heater_range=3, wait=False
    )
    assert run.state is StepState.COMPLETED
    assert run.elapsed == 0
    assert bench.sent("ls") == ["RAMP 1,1,2.0", "SETP 1,77.15", "SETP? 1", "RANGE 1,3", "RANGE? 1"]
    assert await bench.ask("SETP? 1", "ls") == "+77.150"
    assert await bench.ask("RAMP? 1", "ls") == "1,2.0"
    assert await bench.ask("RANGE? 1", "ls") == "3"
    assert run.diagnostics == []


async def test_a_temperature_that_never_comes_fails_at_the_timeout(bench: Bench) -> None:
    controller = await table(bench)
    run = await settle(bench, controller, setpoint="77 K", heater_range=3, timeout="10 min")
    assert run.state is StepState.FAILED
    assert run.elapsed == 600
    assert run.error == "ls was not stable at 77 K within 0.1 K after 600 s: it reads 300 K"
    assert set(run.durations) == {"unknown"}


async def test_the_wait_ends_a_hold_after_the_temperature_arrives(bench: Bench) -> None:
    controller = await table(bench, edit=movable)
    move(bench, 120.5, 77.05)
    run = await settle(bench, controller, setpoint="77 K", heater_range=3, hold="1 min")
    assert run.state is StepState.COMPLETED
    # Seen stable at the first reading after it arrived (121 s), then held for 60 s.
    assert run.elapsed == 181


async def test_leaving_the_tolerance_starts_the_hold_over(bench: Bench) -> None:
    controller = await table(bench, edit=movable)
    move(bench, 120.5, 77.05)
    move(bench, 150.5, 77.5)
    move(bench, 200.5, 76.95)
    run = await settle(bench, controller, setpoint="77 K", tolerance="0.1 K", hold="1 min")
    assert run.state is StepState.COMPLETED
    assert run.elapsed == 201 + 60
    # One reading a second, so the reading at t seconds is the t-th.
    stable = [location["stable_for"] for location in run.locations]
    assert (stable[121], stable[150], stable[151], stable[201], stable[-1]) == (0, 29, 0, 0, 60)


async def test_while_ramping_the_temperature_is_not_stable(bench: Bench) -> None:
    def ramping(document: dict[str, Any]) -> None:
        device(document)["channels"]["outputs"]["properties"]["ramping"]["default"] = 1

    controller = await table(bench, edit=ramping)
    run = await settle(bench, controller, setpoint="300 K", ramp="1 K/min", timeout="5 min")
    assert run.state is StepState.FAILED
    assert run.error == (
        "ls was not stable at 300 K within 0.1 K after 300 s: it reads 300 K, still ramping"
    )


async def test_with_a_ramp_the_remaining_time_follows_the_distance(bench: Bench) -> None:
    controller = await table(bench, edit=movable)
    move(bench, 60.5, 77.0)
    run = await settle(bench, controller, setpoint="77 K", ramp="1 K/min", hold="1 min")
    assert run.state is StepState.COMPLETED
    # 223 K to go at 1 K/min, then the hold.
    assert run.durations[0] == pytest.approx(223 * 60 + 60)


async def test_a_pause_holds_the_wait_and_the_hold_starts_over(bench: Bench) -> None:
    controller = await table(bench)
    await controller.set_heater_range(2)
    # The engine applies the safe state while paused: every heater off.
    later(bench, 35, controller.safe_state)
    bench.forget("ls")
    run = await settle(
        bench,
        controller,
        setpoint="300 K",
        hold="1 min",
        script=Script().at(30).pause().after(10).resume(),
    )
    assert run.state is StepState.COMPLETED
    assert StepState.PAUSED in run.states
    assert run.elapsed == 40 + 60
    sent = bench.sent("ls")
    assert sent.count("SETP 1,300.0") == 2
    # The restart restores the range the step found, not the 0 the safe state left.
    assert "RANGE 1,2" in sent[sent.index("RANGE? 4") :]
    assert await bench.ask("RANGE? 1", "ls") == "2"


async def test_a_restart_from_a_point_restores_its_heater_range(bench: Bench) -> None:
    controller = await table(bench)
    bench.forget("ls")
    run = await run_process(
        SETPOINT,
        {"controller": "ls", "setpoint": "300 K", "wait": False},
        point={"heater_range": 1},
        clock=bench.clock,
        devices={"ls": controller},
    )
    assert run.state is StepState.COMPLETED
    assert bench.sent("ls") == [*CONFIGURE, "RANGE 1,1", "RANGE? 1"]


@pytest.mark.parametrize("point", [{"heater_range": 9}, "garbage", {"heater_range": True}])
async def test_a_bad_point_warns_and_leaves_the_range(bench: Bench, point: Any) -> None:
    controller = await table(bench)
    bench.forget("ls")
    run = await run_process(
        SETPOINT,
        {"controller": "ls", "setpoint": "300 K", "wait": False, "heater_range": None},
        point=point,
        clock=bench.clock,
        devices={"ls": controller},
    )
    assert run.state is StepState.COMPLETED
    assert bench.sent("ls") == [*CONFIGURE, "RANGE? 1"]
    assert "bad-point" in [d["code"] for d in run.diagnostics]


async def test_a_setpoint_the_controller_refuses_fails_the_step(bench: Bench) -> None:
    controller = await table(bench)
    run = await settle(bench, controller, setpoint="2000 K")
    assert run.state is StepState.FAILED
    assert run.error == (
        "device ls: the controller did not take SETP 1,2000.0: its setpoint is still +300.000 "
        "(sent 'SETP? 1', got '+300.000')"
    )
    assert await bench.ask("*ESR?", "ls") == "32"


async def test_setpoints_go_in_celsius_when_the_input_prefers_celsius(bench: Bench) -> None:
    controller = await table(bench)
    await controller.send("INTYPE A,1,0,1,0,2")
    await controller.connect()
    await controller.set_setpoint(Q(77.15, "K"))
    assert await bench.ask("SETP? 1", "ls") == "-196.000"
    assert (await controller.read("setpoint")).m_as("K") == pytest.approx(77.15)


async def test_safe_state_turns_every_heater_off(bench: Bench) -> None:
    controller = await table(bench)
    await controller.set_heater_range(3)
    await controller.send("RANGE 2,2")
    await controller.safe_state()
    assert [await bench.ask(f"RANGE? {n}", "ls") for n in (1, 2, 3, 4)] == ["0"] * 4


async def test_a_garbled_reading_fails_the_wait(bench: Bench) -> None:
    def garble(document: dict[str, Any]) -> None:
        inputs = device(document)["channels"]["inputs"]["properties"]
        inputs["temperature"]["getter"]["r"] = "T.OVER"

    controller = await table(bench, edit=garble)
    run = await settle(bench, controller, setpoint="300 K")
    assert run.state is StepState.FAILED
    assert run.error == "device ls: the reply is not a number (sent 'KRDG? A', got 'T.OVER')"
    assert len(bench.faults["ls"]) == 1


async def test_a_query_left_unanswered_fails_the_wait(bench: Bench) -> None:
    def no_ramp_status(document: dict[str, Any]) -> None:
        del device(document)["channels"]["outputs"]["properties"]["ramping"]

    controller = await table(bench, edit=no_ramp_status)
    run = await settle(bench, controller, setpoint="300 K")
    assert run.state is StepState.FAILED
    assert run.error == "device ls: no reply within 0.3 s (sent 'RAMPST? 1', got nothing)"
    (fault,) = bench.faults["ls"]
    assert isinstance(fault, DeviceTimeout)


async def test_a_cable_pulled_during_the_wait_fails_it(bench: Bench) -> None:
    controller = await table(bench)

    async def pull() -> None:
        bench.links["ls"]._instrument.close()

    later(bench, 30.5, pull)
    run = await settle(bench, controller, setpoint="300 K", hold="5 min")
    assert run.state is StepState.FAILED
    assert run.elapsed == 31
    assert run.error is not None
    assert run.error.startswith("device ls: VISA error: Invalid session handle")
    assert run.error.endswith("(sent 'KRDG? A', got nothing)")
    (fault,) = bench.faults["ls"]
    assert isinstance(fault, DeviceDisconnected)


async def test_the_ethernet_resource_of_the_simulation_works_too(bench: Bench) -> None:
    controller = await table(bench, resource="TCPIP0::192.168.0.12::7777::SOCKET")
    assert await controller.temperature() == Q(300, "K")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tolerance": "0.1 degC"}, "0.1 °C is a temperature, not a difference"),
        ({"ramp": "0 K/min"}, "is below the minimum 0.1 K/min"),
        ({"ramp": "1 K"}, "expected a temperature rate"),
        ({"heater_range": 4}, "less than or equal to 3"),
        ({"setpoint": "-1 K"}, "is below the minimum 0 K"),
        ({"poll": "0 s"}, "must be above 0 s"),
    ],
)
def test_arguments_are_checked(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SETPOINT.validate({"controller": "ls", "setpoint": "300 K"} | data)


@pytest.mark.parametrize(("tolerance", "kelvin"), [("50 mK", 0.05), ("0.2 delta_degC", 0.2)])
def test_a_difference_in_delta_units_is_a_tolerance(tolerance: str, kelvin: float) -> None:
    data = SETPOINT.validate({"controller": "ls", "setpoint": "4 K", "tolerance": tolerance})
    assert isinstance(data, SetpointArgs)
    assert data.tolerance.m_as("K") == pytest.approx(kelvin)


def test_the_estimate_is_unknown_when_waiting() -> None:
    waiting = SETPOINT.validate({"controller": "ls", "setpoint": "4 K"})
    assert SETPOINT.estimate(waiting) is None
    at_once = SETPOINT.validate({"controller": "ls", "setpoint": "4 K", "wait": False})
    assert SETPOINT.estimate(at_once) == 0
