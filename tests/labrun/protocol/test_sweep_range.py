"""Sweep ranges: `FROM to TO by STEP`, of numbers or quantities."""

import pytest
from lab_plugin import build

from labrun.protocol.sweep import MAX_VALUES, is_range, parse_range
from labrun.quantity import format_quantity


def shown(text: str) -> list[str]:
    return [format_quantity(value) for value in parse_range(text)]


def test_a_range_of_quantities_includes_its_last_value():
    assert shown("20 degC to 40 degC by 5 degC") == ["20 °C", "25 °C", "30 °C", "35 °C", "40 °C"]


def test_the_values_are_in_the_unit_of_the_first_value_and_the_step_is_a_difference():
    assert shown("293.15 K to 303.15 K by 5 degC") == ["293.15 K", "298.15 K", "303.15 K"]
    assert shown("20 degC to 30 degC by 9 degF") == ["20 °C", "25 °C", "30 °C"]
    assert shown("1 ml to 2500 ul by 500 ul") == ["1 ml", "1.5 ml", "2 ml", "2.5 ml"]


def test_ranges_go_down_with_a_negative_step():
    assert shown("40 degC to 30 degC by -5 degC") == ["40 °C", "35 °C", "30 °C"]


def test_a_range_stops_before_a_last_value_it_does_not_land_on():
    assert parse_range("1 to 10 by 4") == (1, 5, 9)


def test_float_steps_do_not_drift():
    assert parse_range("0 to 1 by 0.1") == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 to 10 by 0", "the step cannot be 0"),
        ("10 to 1 by 1", "the step goes away from the last value"),
        ("0 to 1e9 by 1", f"the range has more than {MAX_VALUES} values"),
        ("20 degC to 40 min by 5 degC", "40 min and 20 °C are not of one kind"),
        (
            "1 to 5 degC by 1",
            "'1' has no unit: a quantity needs a unit, such as '10 min'; "
            "a range is all numbers or all quantities",
        ),
    ],
)
def test_bad_ranges(text: str, message: str):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(") + "$"):
        parse_range(text)


def test_what_looks_like_a_range():
    assert is_range("1 to 2 by 1")
    assert not is_range("20 degC")


def test_a_bad_range_in_a_protocol():
    result = build(
        "steps:\n  - sweep: t\n    values: 1 to 10 by 0\n    steps:\n      - lab.count: ${t}\n"
    )
    assert [d.message for d in result.diagnostics] == ["bad range: the step cannot be 0"]


def test_values_that_are_neither_a_list_nor_a_range():
    result = build("steps:\n  - sweep: t\n    values: 20 degC\n    steps:\n      - lab.count: 1\n")
    assert [(d.message, d.hint) for d in result.diagnostics] == [
        (
            "the values of a sweep are a list or a range, got '20 degC'",
            "add values: with a list, or a range such as '20 degC to 40 degC by 5 degC'",
        )
    ]


def test_a_sweep_needs_values():
    result = build("steps:\n  - sweep: t\n    steps:\n      - lab.count: 1\n")
    assert [d.message for d in result.diagnostics] == ["'sweep' needs 'values'"]
    empty = build("steps:\n  - sweep: t\n    values: []\n    steps:\n      - lab.count: 1\n")
    assert [d.message for d in empty.diagnostics] == ["a sweep needs at least one value"]
