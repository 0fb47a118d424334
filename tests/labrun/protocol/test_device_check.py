"""The compiler's device checks: a step names a device of the protocol's `devices:`, and,
with the host's configured devices, one whose driver the step's process works with."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from textwrap import dedent

from lamp import CATALOG

from labrun.protocol import CompileResult, compile


def build(text: str, devices: Mapping[str, str] | Collection[str] | None = None) -> CompileResult:
    return compile("p.yml", text=dedent(text).lstrip("\n"), catalog=CATALOG, devices=devices)


def problems(result: CompileResult) -> list[tuple[int, int, str, str | None]]:
    return [(d.line, d.column, d.message, d.hint) for d in result.diagnostics]


def test_a_step_names_a_device_of_the_protocol() -> None:
    result = build(
        """
        devices: {lamp: lamp, spot: spot}
        steps:
          - lamp.shine: {lamp: lamb}
        """
    )
    assert result.protocol is None
    assert problems(result) == [
        (
            3,
            24,
            "unknown device 'lamb' for lamp.shine",
            "did you mean lamp? the protocol's devices are: lamp, spot",
        )
    ]


def test_a_protocol_without_devices_is_told_to_declare_them() -> None:
    result = build(
        """
        steps:
          - lamp.shine: {lamp: lamp}
        """
    )
    assert problems(result) == [
        (
            2,
            24,
            "unknown device 'lamp' for lamp.shine",
            "declare it under devices:, such as `devices: {lamp: lamp}`",
        )
    ]


def test_each_name_of_a_list_of_devices_is_checked() -> None:
    result = build(
        """
        devices: {lamp: lamp}
        steps:
          - lamp.shine_all:
              lamps: [lamp, spot]
        """
    )
    assert problems(result) == [
        (4, 21, "unknown device 'spot' for lamp.shine_all", "the protocol's devices are: lamp")
    ]


def test_a_device_given_as_the_steps_only_argument_is_checked() -> None:
    result = build(
        """
        devices: {lamp: lamp}
        steps:
          - lamp.blink: lamb
        """
    )
    assert problems(result) == [
        (
            3,
            17,
            "unknown device 'lamb' for lamp.blink",
            "did you mean lamp? the protocol's devices are: lamp",
        )
    ]


def test_a_device_from_a_parameter_is_left_to_the_run() -> None:
    result = build(
        """
        parameters:
          which: {type: str, default: lamp}
        devices: {lamp: lamp}
        steps:
          - lamp.shine: {lamp: "${which}"}
        """
    )
    assert result.ok, problems(result)


def test_a_configured_device_must_have_a_driver_the_step_works_with() -> None:
    text = """
        devices: {light: bench_lamp}
        steps:
          - lamp.shine: {lamp: light}
        """
    result = build(text, devices={"bench_lamp": "other.bulb"})
    assert result.protocol is None
    assert problems(result) == [
        (
            3,
            24,
            "device 'light' (bench_lamp) has the driver other.bulb, and lamp.shine works "
            "with lamp.lamp",
            "map the name to another device under devices:",
        )
    ]
    assert build(text, devices={"bench_lamp": "lamp.lamp"}).ok


def test_a_step_that_takes_any_driver_accepts_every_configured_device() -> None:
    result = build(
        """
        devices: {light: bench_lamp}
        steps:
          - lamp.blink: light
        """,
        devices={"bench_lamp": "other.bulb"},
    )
    assert result.ok, problems(result)


def test_without_drivers_only_the_configured_names_are_checked() -> None:
    text = """
        devices: {light: bench_lamp}
        steps:
          - lamp.shine: {lamp: light}
        """
    assert build(text, devices=["bench_lamp"]).ok
    result = build(text, devices=["spot", "bench_lamb"])
    assert result.protocol is None
    assert problems(result)[0] == (
        1,
        18,
        "unknown device 'bench_lamp'",
        "did you mean bench_lamb? configured devices: bench_lamb, spot",
    )


def test_a_name_mapped_to_an_unknown_configured_device_is_reported_once() -> None:
    text = """
        devices: {light: bench_lamp}
        steps:
          - lamp.shine: {lamp: light}
        """
    assert len(build(text, devices=["spot"]).diagnostics) == 1


def test_one_name_cannot_serve_steps_that_need_different_drivers() -> None:
    result = build(
        """
        devices: {lamp: lamp}
        steps:
          - lamp.shine: {lamp: lamp}
          - lamp.dim: {lamp: lamp}
        """
    )
    assert result.protocol is None
    assert problems(result) == [
        (
            4,
            22,
            "device 'lamp' is used by steps that need different drivers: lamp.dim works "
            "with other.bulb",
            "use another device name for one of them",
        )
    ]


def test_the_protocol_says_which_drivers_each_device_may_have() -> None:
    result = build(
        """
        devices: {lamp: lamp, any: any, idle: idle}
        steps:
          - lamp.shine: {lamp: lamp}
          - lamp.shine_all: {lamps: [lamp]}
          - lamp.blink: any
        """
    )
    assert result.protocol is not None, problems(result)
    assert dict(result.protocol.devices) == {"lamp": "lamp", "any": "any", "idle": "idle"}
    assert dict(result.protocol.device_drivers) == {
        "lamp": frozenset({"lamp.lamp"}),
        "any": frozenset(),
    }
