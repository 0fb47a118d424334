"""Each driver against scripted replies: the exact commands it sends, and what it makes of
replies the simulator cannot give (wrong identities, overloads, garbage)."""

import re

import pytest
from scpi_bench import fake

from labrun import DeviceAlarm, DeviceReplyError, registry
from labrun_scpi import Keysight34465A, LakeShore336, ScpiInstrument, ScpiPowerSupply

Q = registry().Quantity
CLEAN = '+0,"No error"'
KEYSIGHT = "Keysight Technologies,34465A,MY57500001,A.03.01"
IDENTITY = "manufacturer,model,serial,firmware"
LAKESHORE = {"OUTMODE? 1": "1,1,0", "INTYPE? A": "1,0,1,0,1"}


# Identity


@pytest.mark.parametrize(
    ("driver", "identity"),
    [
        (ScpiInstrument, "Acme,Widget 9000,1,1.0"),
        (ScpiPowerSupply, "RIGOL TECHNOLOGIES,DP832,DP8C1,00.01.14"),
        (Keysight34465A, KEYSIGHT),
        (Keysight34465A, "Agilent Technologies,34461A,MY1,A.01"),
        (LakeShore336, "LSCI,MODEL336,LSA1234,2.9"),
    ],
)
async def test_identify_asks_idn_and_returns_the_identity(driver: type, identity: str) -> None:
    instrument = fake(driver, {"*IDN?": identity + "  "})
    assert await instrument.identify() == identity
    assert instrument.link.sent == ["*IDN?"]


@pytest.mark.parametrize(
    ("driver", "identity", "problem"),
    [
        (ScpiInstrument, "", f"the reply is not an IEEE 488.2 identity ({IDENTITY})"),
        (ScpiInstrument, "just text", f"the reply is not an IEEE 488.2 identity ({IDENTITY})"),
        (
            Keysight34465A,
            "Keysight Technologies,34972A,MY1,1.0",
            "expected a Keysight 34465A multimeter, found Keysight Technologies 34972A",
        ),
        (
            LakeShore336,
            "LSCI,MODEL335,LSA1,1.0",
            "expected a Lake Shore 336 (LSCI,MODEL336), found LSCI,MODEL335",
        ),
    ],
)
async def test_the_wrong_instrument_is_a_fault(driver: type, identity: str, problem: str) -> None:
    instrument = fake(driver, {"*IDN?": identity})
    with pytest.raises(DeviceReplyError) as caught:
        await instrument.identify()
    assert str(caught.value) == f"device fake: {problem} (sent '*IDN?', got {identity!r})"
    assert instrument.link.faults == [caught.value]


# The SCPI error queue


async def test_errors_empties_the_queue() -> None:
    errors = ['-222,"Data out of range"', '-113,"Undefined header"', CLEAN]
    instrument = fake(ScpiInstrument, {"SYST:ERR?": errors})
    assert await instrument.errors() == errors[:2]
    assert instrument.link.sent == ["SYST:ERR?"] * 3


async def test_a_garbled_error_queue_entry_is_a_fault() -> None:
    instrument = fake(ScpiInstrument, {"SYST:ERR?": "OK"})
    with pytest.raises(DeviceReplyError, match="not an error queue entry"):
        await instrument.errors()


async def test_an_error_queue_that_never_empties_is_a_fault() -> None:
    instrument = fake(ScpiInstrument, {"SYST:ERR?": '-350,"Queue overflow"'})
    with pytest.raises(DeviceReplyError, match="the error queue did not empty after 32 reads"):
        await instrument.errors()


async def test_the_generic_safe_state_sends_nothing() -> None:
    instrument = fake(ScpiInstrument)
    await instrument.safe_state()
    assert instrument.link.sent == []


# Keysight 34465A


@pytest.mark.parametrize(
    ("range_", "resolution", "command"),
    [
        (None, None, "CONF:VOLT:DC"),
        (Q(10, "V"), None, "CONF:VOLT:DC 10.0"),
        (Q(100, "mV"), None, "CONF:VOLT:DC 0.1"),
        (Q(1, "V"), Q(1, "uV"), "CONF:VOLT:DC 1.0,0.000001"),
    ],
)
async def test_dmm_configure_sends_conf_then_reads_the_error_queue(
    range_: object, resolution: object, command: str
) -> None:
    dmm = fake(Keysight34465A, {"SYST:ERR?": CLEAN})
    assert await dmm.configure(range_, resolution) == command
    assert dmm.link.sent == [command, "SYST:ERR?"]


async def test_dmm_configure_refused_is_a_fault_naming_the_error() -> None:
    dmm = fake(Keysight34465A, {"SYST:ERR?": ['-222,"Data out of range"', CLEAN]})
    with pytest.raises(DeviceReplyError) as caught:
        await dmm.configure(Q(5, "V"))
    assert str(caught.value) == (
        'device fake: the instrument refused CONF:VOLT:DC 5.0: -222,"Data out of range" '
        "(sent 'SYST:ERR?', got '-222,\"Data out of range\"')"
    )


async def test_dmm_resolution_without_range_is_refused_before_sending() -> None:
    dmm = fake(Keysight34465A)
    with pytest.raises(ValueError, match="a resolution needs a range"):
        await dmm.configure(None, Q(1, "uV"))
    assert dmm.link.sent == []


async def test_dmm_reads_one_voltage() -> None:
    dmm = fake(Keysight34465A, {"SENS:FUNC?": '"VOLT"', "READ?": "-1.23456789E-03"})
    assert await dmm.read("voltage") == Q(-1.23456789e-3, "V")
    assert dmm.link.sent == ["SENS:FUNC?", "READ?"]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("+9.90000000E+37", "overload: the input is beyond the measurement range"),
        ("-9.90000000E+37", "overload: the input is beyond the measurement range"),
        ("+1.0E+00,+2.0E+00", "expected one reading, got 2"),
    ],
)
async def test_dmm_readings_it_cannot_use_are_errors_but_not_faults(
    reply: str, message: str
) -> None:
    dmm = fake(Keysight34465A, {"SENS:FUNC?": '"VOLT"', "READ?": reply})
    with pytest.raises(DeviceReplyError, match=message) as caught:
        await dmm.read_voltage()
    assert caught.value.reply == reply
    # The meter works: it is not marked faulty and reconnected.
    assert dmm.link.faults == []


async def test_dmm_in_another_function_does_not_read_volts() -> None:
    dmm = fake(Keysight34465A, {"SENS:FUNC?": '"CURR:AC"'})
    with pytest.raises(DeviceReplyError) as caught:
        await dmm.read_voltage()
    assert str(caught.value) == (
        "device fake: the multimeter measures CURR:AC, not DC voltage: configure it first "
        "(sent 'SENS:FUNC?', got '\"CURR:AC\"')"
    )
    assert dmm.link.sent == ["SENS:FUNC?"]


@pytest.mark.parametrize(
    ("query", "reply", "message"),
    [
        ("READ?", "garbage", "the reply is not a reading such as +1.23456789E+00"),
        ("READ?", "+1.0E+00,x", "the reply is not a reading such as +1.23456789E+00"),
        ("SENS:FUNC?", "VOLT", 'the reply is not a quoted function name such as "VOLT"'),
    ],
)
async def test_dmm_garbled_reply_is_a_fault(query: str, reply: str, message: str) -> None:
    dmm = fake(Keysight34465A, {"SENS:FUNC?": '"VOLT"', "READ?": "+1.0E+00"} | {query: reply})
    with pytest.raises(DeviceReplyError) as caught:
        await dmm.read_voltage()
    assert str(caught.value) == f"device fake: {message} (sent {query!r}, got {reply!r})"
    assert dmm.link.faults == [caught.value]


async def test_dmm_safe_state_aborts_a_measurement_and_nothing_else() -> None:
    dmm = fake(Keysight34465A)
    await dmm.safe_state()
    assert dmm.link.sent == ["ABOR"]


# Power supply


async def test_psu_setters_send_scpi_commands() -> None:
    psu = fake(ScpiPowerSupply)
    assert await psu.set_voltage(Q(12.5, "V")) == "VOLT 12.5"
    assert await psu.set_current(Q(250, "mA")) == "CURR 0.25"
    assert await psu.set_output(True) == "OUTP ON"
    assert await psu.set_output(False) == "OUTP OFF"
    assert psu.link.sent == ["VOLT 12.5", "CURR 0.25", "OUTP ON", "OUTP OFF"]


@pytest.mark.parametrize(
    ("value", "setting", "command"),
    [
        ("voltage", "5 V", "VOLT 5.0"),
        ("current", Q(1, "A"), "CURR 1.0"),
        ("output", True, "OUTP ON"),
    ],
)
async def test_psu_written_values_are_checked_against_the_error_queue(
    value: str, setting: object, command: str
) -> None:
    psu = fake(ScpiPowerSupply, {"SYST:ERR?": CLEAN})
    await psu.write(value, setting)
    assert psu.link.sent == [command, "SYST:ERR?"]


@pytest.mark.parametrize(
    ("value", "setting", "message"),
    [
        ("voltage", "5 A", "the voltage must be in V or a compatible unit, not ampere"),
        ("voltage", 5, "the voltage must be a quantity with a unit, not 5"),
        ("output", "yes", "the output is on (true) or off (false), not 'yes'"),
    ],
)
async def test_psu_refuses_a_bad_setting_before_sending(
    value: str, setting: object, message: str
) -> None:
    psu = fake(ScpiPowerSupply)
    with pytest.raises(ValueError, match=re.escape(message)):
        await psu.write(value, setting)
    assert psu.link.sent == []


@pytest.mark.parametrize(("reply", "on"), [("1", True), ("ON", True), ("0", False), ("OFF", False)])
async def test_psu_reads_the_output_state_in_either_form(reply: str, on: bool) -> None:
    psu = fake(ScpiPowerSupply, {"OUTP?": reply})
    assert await psu.read("output") is on


async def test_psu_reads_measurements_in_their_units() -> None:
    psu = fake(ScpiPowerSupply, {"MEAS:VOLT?": "+4.99870E+00", "MEAS:CURR?": "0.1234"})
    assert await psu.read("measured_voltage") == Q(4.9987, "V")
    assert await psu.read("measured_current") == Q(0.1234, "A")
    assert psu.link.sent == ["MEAS:VOLT?", "MEAS:CURR?"]


async def test_psu_safe_state_turns_the_output_off_and_checks() -> None:
    psu = fake(ScpiPowerSupply, {"OUTP?": "0"})
    await psu.safe_state()
    assert psu.link.sent == ["OUTP OFF", "OUTP?"]


async def test_psu_output_still_on_after_the_safe_state_is_an_alarm() -> None:
    psu = fake(ScpiPowerSupply, {"OUTP?": "1"})
    with pytest.raises(DeviceAlarm) as caught:
        await psu.safe_state()
    assert str(caught.value) == (
        "device fake: the output is still on after OUTP OFF (sent 'OUTP?', got '1')"
    )


# Lake Shore 336


async def test_lakeshore_connect_learns_the_control_input_and_its_units() -> None:
    controller = fake(LakeShore336, {"OUTMODE? 2": "1,2,0", "INTYPE? B": "1,0,1,0,1"}, output=2)
    await controller.connect()
    assert controller.link.sent == ["OUTMODE? 2", "INTYPE? B"]
    assert controller.input == "B"


@pytest.mark.parametrize(
    ("setpoint", "command"),
    [(Q(77, "K"), "SETP 1,77.0"), (Q(-196, "degC"), "SETP 1,77.15"), ("4.2 K", "SETP 1,4.2")],
)
async def test_lakeshore_setpoint_is_sent_in_kelvin_and_read_back(
    setpoint: object, command: str
) -> None:
    value = command.split(",")[1]
    controller = fake(LakeShore336, LAKESHORE | {"SETP? 1": f"+{float(value):.3f}"})
    await controller.connect()
    controller.link.sent.clear()
    await controller.set_setpoint(setpoint)
    assert controller.link.sent == [command, "SETP? 1"]


async def test_lakeshore_setpoint_goes_in_celsius_to_an_input_that_prefers_it() -> None:
    controller = fake(
        LakeShore336, {"OUTMODE? 1": "1,1,0", "INTYPE? A": "1,0,1,0,2", "SETP? 1": "-196.000"}
    )
    await controller.connect()
    controller.link.sent.clear()
    await controller.set_setpoint(Q(77.15, "K"))
    assert controller.link.sent == ["SETP 1,-196.0", "SETP? 1"]
    setpoint = await controller.read("setpoint")
    assert setpoint.m_as("K") == pytest.approx(77.15)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"OUTMODE? 1": "0,0,0"}, "output 1 has no control input"),
        ({"OUTMODE? 1": "1,1,0", "INTYPE? A": "1,0,1,0,3"}, "input A controls in sensor units"),
    ],
)
async def test_lakeshore_setpoint_without_a_temperature_scale_is_refused(
    answers: dict[str, str], message: str
) -> None:
    controller = fake(LakeShore336, answers)
    await controller.connect()
    controller.link.sent.clear()
    with pytest.raises(ValueError, match=message):
        await controller.set_setpoint(Q(10, "K"))
    assert controller.link.sent == []


async def test_lakeshore_setpoint_it_ignores_is_a_fault() -> None:
    controller = fake(LakeShore336, LAKESHORE | {"SETP? 1": "+300.000"})
    await controller.connect()
    with pytest.raises(DeviceReplyError) as caught:
        await controller.set_setpoint(Q(2000, "K"))
    assert str(caught.value) == (
        "device fake: the controller did not take SETP 1,2000.0: its setpoint is still "
        "+300.000 (sent 'SETP? 1', got '+300.000')"
    )


async def test_lakeshore_ramp_and_heater_range_commands() -> None:
    controller = fake(LakeShore336, LAKESHORE | {"RANGE? 1": "2"})
    await controller.connect()
    controller.link.sent.clear()
    await controller.set_ramp(Q(2.5, "K/min"))
    await controller.set_ramp(Q(1, "K/s"))
    await controller.set_ramp(None)
    await controller.set_heater_range(2)
    assert controller.link.sent == [
        "RAMP 1,1,2.5",
        "RAMP 1,1,60.0",
        "RAMP 1,0,0",
        "RANGE 1,2",
        "RANGE? 1",
    ]


@pytest.mark.parametrize("heater_range", [-1, 4, True, 1.5])
async def test_lakeshore_heater_range_is_0_to_3(heater_range: object) -> None:
    controller = fake(LakeShore336)
    with pytest.raises(ValueError, match="the heater range is 0, 1, 2 or 3"):
        await controller.set_heater_range(heater_range)
    assert controller.link.sent == []


async def test_lakeshore_reads_its_values() -> None:
    answers = LAKESHORE | {
        "KRDG? A": "+77.012",
        "RAMP? 1": "1,+2.500",
        "RAMPST? 1": "1",
        "HTR? 1": "+042.5",
        "RANGE? 1": "3",
    }
    controller = fake(LakeShore336, answers)
    await controller.connect()
    assert await controller.read("temperature") == Q(77.012, "K")
    assert await controller.read("ramp") == Q(2.5, "K/min")
    assert await controller.read("ramping") is True
    assert await controller.read("heater_output") == Q(42.5, "percent")
    assert await controller.read("heater_range") == 3


async def test_lakeshore_reads_the_input_chosen_in_its_options() -> None:
    controller = fake(LakeShore336, LAKESHORE | {"KRDG? C": "+4.200"}, input="C")
    await controller.connect()
    assert await controller.temperature() == Q(4.2, "K")


async def test_lakeshore_ramp_off_reads_as_none() -> None:
    controller = fake(LakeShore336, {"RAMP? 1": "0,+2.500"})
    assert await controller.read("ramp") is None


async def test_lakeshore_safe_state_turns_every_heater_off_and_checks() -> None:
    controller = fake(LakeShore336, {f"RANGE? {n}": "0" for n in (1, 2, 3, 4)})
    await controller.safe_state()
    assert controller.link.sent == [
        "RANGE 1,0",
        "RANGE 2,0",
        "RANGE 3,0",
        "RANGE 4,0",
        "RANGE? 1",
        "RANGE? 2",
        "RANGE? 3",
        "RANGE? 4",
    ]


async def test_lakeshore_heater_still_on_after_the_safe_state_is_an_alarm() -> None:
    controller = fake(LakeShore336, {"RANGE? 1": "0", "RANGE? 2": "3"})
    with pytest.raises(DeviceAlarm) as caught:
        await controller.safe_state()
    assert str(caught.value) == (
        "device fake: the controller did not take RANGE 2,0: its heater range is still 3 "
        "(sent 'RANGE? 2', got '3')"
    )


@pytest.mark.parametrize(
    ("query", "reply", "message"),
    [
        ("KRDG? A", "T_OVER", "the reply is not a number"),
        ("RAMPST? 1", "2", "the reply is not 0 or 1"),
        ("RAMP? 1", "1", "the reply is not <on 0|1>,<rate>"),
        ("OUTMODE? 1", "1;1", "the reply is not <mode>,<input>,<powerup enable>"),
    ],
)
async def test_lakeshore_garbled_reply_is_a_fault(query: str, reply: str, message: str) -> None:
    controller = fake(LakeShore336, {query: reply})
    readers = {
        "KRDG? A": controller.temperature,
        "RAMPST? 1": controller.ramping,
        "RAMP? 1": controller.ramp,
        "OUTMODE? 1": controller.connect,
    }
    with pytest.raises(DeviceReplyError) as caught:
        await readers[query]()
    assert str(caught.value) == f"device fake: {message} (sent {query!r}, got {reply!r})"
    assert controller.link.faults == [caught.value]
