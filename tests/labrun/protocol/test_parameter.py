"""Parameters: declarations, their problems, and values given when a run starts."""

import pytest
from lab_plugin import build

from labrun.protocol import Parameter, ParameterError, Protocol, parse_assignments
from labrun.protocol.parameter import Kind
from labrun.quantity import format_quantity

DECLARED = """
parameters:
  temp:
    unit: degC
    default: 37 degC
    min: 20 degC
    max: 95 degC
    description: Incubation temperature.
  cycles: {type: int, default: 3, min: 1, max: 10}
  ratio: {type: float, default: 0.5}
  mode: {type: str, choices: [fast, slow], default: fast}
  dry: {type: bool, default: false}
  sample: {type: str}
steps:
  - lab.wait: 1 s
"""


def protocol() -> Protocol:
    result = build(DECLARED)
    assert result.protocol is not None, [d.render() for d in result.diagnostics]
    return result.protocol


def test_declarations_are_typed():
    parameters = protocol().parameters
    temp = parameters["temp"]
    assert (temp.kind, temp.unit, temp.description) == (
        Kind.QUANTITY,
        "degC",
        "Incubation temperature.",
    )
    assert format_quantity(temp.default) == "37 °C"
    assert (format_quantity(temp.minimum), format_quantity(temp.maximum)) == ("20 °C", "95 °C")
    assert parameters["cycles"].default == 3
    assert parameters["mode"].choices == ("fast", "slow")
    assert parameters["dry"].default is False
    assert not parameters["sample"].has_default
    assert temp.summary() == "a temperature (degC), default 37 °C, min 20 °C, max 95 °C"


def test_values_from_a_command_line_are_converted_and_defaults_fill_the_rest():
    values = protocol().bind(
        parse_assignments(["temp=40degC", "cycles=5", "ratio=0.25", "dry=yes", "sample=S-12"])
    )
    assert format_quantity(values["temp"]) == "40 °C"
    assert values["cycles"] == 5
    assert values["ratio"] == 0.25
    assert values["dry"] is True
    assert values["mode"] == "fast"
    assert values["sample"] == "S-12"


def test_typed_values_are_accepted_too():
    values = protocol().bind(
        {"temp": {"magnitude": 310.15, "units": "kelvin"}, "cycles": 2, "sample": "x"}
    )
    assert values["cycles"] == 2
    assert values["temp"].to("degC").magnitude == pytest.approx(37)


def test_every_problem_with_the_values_is_listed():
    with pytest.raises(ParameterError) as caught:
        protocol().bind(
            {"tmp": "30 degC", "temp": "5 min", "cycles": "11", "mode": "medium", "ratio": "x"}
        )
    assert caught.value.problems == (
        "unknown parameter 'tmp'; did you mean temp? parameters are: temp, cycles, ratio, mode, "
        "dry, sample",
        "temp: expected a temperature, got 5 min (a time)",
        "cycles: 11 is above the maximum 10",
        "ratio: expected a number, got 'x'",
        "mode: medium is not one of: fast, slow",
        "sample: no value given, and the parameter has no default",
    )


def test_a_temperature_below_the_minimum():
    with pytest.raises(ParameterError, match=r"temp: 10 °C is below the minimum 20 °C"):
        protocol().bind({"temp": "10 degC", "sample": "x"})


def test_a_number_without_a_unit():
    with pytest.raises(
        ParameterError, match=r"temp: a temperature needs a unit, such as '37 degC'"
    ):
        protocol().bind({"temp": "37", "sample": "x"})


def test_assignments_must_be_name_equals_value():
    with pytest.raises(ParameterError) as caught:
        parse_assignments(["temp", "cycles=1", "cycles=2", "=3"])
    assert caught.value.problems == (
        "expected NAME=VALUE, got 'temp'",
        "parameter 'cycles' is given twice",
        "expected NAME=VALUE, got '=3'",
    )


@pytest.mark.parametrize(
    ("declaration", "message", "hint"),
    [
        ("{unit: degC, type: int}", "parameter 'x' has both a type and a unit", "keep one"),
        (
            "{default: 3}",
            "parameter 'x' needs a type or a unit",
            "add 'type: int' (or float, str, bool), or a unit such as 'unit: degC'",
        ),
        (
            "{type: integer}",
            "unknown type 'integer'",
            "did you mean int? types are int, float, str, bool; a quantity is declared with a unit",
        ),
        ("{unit: blorbs}", "bad unit for 'x': unknown unit 'blorbs'", None),
        ("{unit: degC, default: 5 min}", "expected a temperature, got 5 min (a time)", None),
        (
            "{type: int, default: 12, max: 10}",
            "bad default for 'x': 12 is above the maximum 10",
            None,
        ),
        ("{type: int, min: 5, max: 1}", "max 1 is below min 5", None),
        (
            "{type: str, default: 2024}",
            "expected text, got 2024",
            "quote it to make it text: '2024'",
        ),
        (
            "{type: str, choices: [a, b], default: c}",
            "bad default for 'x': c is not one of: a, b",
            None,
        ),
        ("{type: str, min: a}", "str parameters take no min", None),
        ("{type: int, choices: []}", "choices cannot be empty", None),
        ("{type: int, dflt: 3}", "unknown key 'dflt'", "did you mean default?"),
    ],
)
def test_bad_declarations(declaration: str, message: str, hint: str | None):
    result = build(f"parameters:\n  x: {declaration}\nsteps:\n  - lab.wait: 1 s\n")
    assert [(d.message, d.hint) for d in result.diagnostics] == [(message, hint)]


def test_a_parameter_name_must_be_usable_in_a_reference():
    result = build("parameters:\n  2x: {type: int}\nsteps:\n  - lab.wait: 1 s\n")
    assert [d.message for d in result.diagnostics] == ["invalid parameter name '2x'"]


def test_a_parameter_without_default_is_checked_with_a_value_it_allows():
    parameter = Parameter("n", Kind.INT, minimum=2)
    assert parameter.sample() == 2
    result = build("parameters:\n  n: {type: int, min: 11}\nsteps:\n  - lab.count: ${n}\n")
    assert [d.message for d in result.diagnostics] == [
        "bad n for lab.count: Input should be less than or equal to 10"
    ]
