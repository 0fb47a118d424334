"""Numbers on the wire: what the drivers send and how strictly they read replies."""

import math

import pytest

from labrun_scpi.number import format_number, parse_bool, parse_number, parse_numbers


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5, "5.0"),
        (5.0, "5.0"),
        (0.1, "0.1"),
        (1e-6, "0.000001"),
        (1e-9, "0.000000001"),
        (300.15, "300.15"),
        (-2.5, "-2.5"),
        (-0.0, "0.0"),
        (1e16, "10000000000000000.0"),
        # Unit conversions leave noise far below any instrument's resolution.
        (77.14999999999998, "77.15"),
        (0.1 + 0.2, "0.3"),
    ],
)
def test_numbers_are_sent_positional_with_a_decimal_point(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True])
def test_what_is_not_a_finite_number_is_not_sent(value: float) -> None:
    with pytest.raises(ValueError, match="cannot send"):
        format_number(value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("+1.23456789E+00", 1.23456789),
        ("-9.9E+37", -9.9e37),
        ("+000.0", 0.0),
        (" 5.0000 ", 5.0),
        ("300", 300.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e-3", 0.001),
    ],
)
def test_instrument_numbers_are_read(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "nan", "inf", "1_000", "5 V", "ERROR", "1,2", "0x10", "+"])
def test_what_is_not_an_instrument_number_is_refused(text: str) -> None:
    assert parse_number(text) is None


def test_comma_separated_readings_are_read_all_or_not_at_all() -> None:
    assert parse_numbers("+1.0E+00,-2.5E-01") == [1.0, -0.25]
    assert parse_numbers("+1.0E+00,garbage") is None


@pytest.mark.parametrize(
    ("text", "value"), [("1", True), ("ON", True), (" on ", True), ("0", False), ("OFF", False)]
)
def test_scpi_booleans_are_read(text: str, value: bool) -> None:
    assert parse_bool(text) is value


@pytest.mark.parametrize("text", ["2", "", "YES", "1.0"])
def test_what_is_not_a_scpi_boolean_is_refused(text: str) -> None:
    assert parse_bool(text) is None
