"""The NE-1000's 4-digit numbers: the unit is chosen so that no digit is lost."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labrun import parse_quantity, registry
from labrun_syringe import number
from labrun_syringe.number import RATE_UNITS, VOLUME_UNITS, NotRepresentable, encode, nearest


def wire(text: str, units: tuple[number.WireUnit, ...]) -> str:
    encoded = encode(parse_quantity(text), units)
    return encoded.digits + encoded.unit.code


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        # The manual's own example: not 0.005MM, which keeps one digit.
        ("5 ul/min", "5.000UM"),
        ("0.005 ml/min", "5.000UM"),
        # Steps of 0.01 ml/h (at 60.00 ml/h) are finer than steps of 0.001 ml/min.
        ("1 ml/min", "60.00MH"),
        ("1.5 ml/min", "90.00MH"),
        ("2 ml/s", "7200MH"),
        # 0.001 µl/min (0.06 µl/h) is finer than 0.1 µl/h at 300.0 µl/h.
        ("0.3 ml/h", "5.000UM"),
        ("5.5 ul/h", "5.500UH"),
        ("9999 ml/min", "9999MM"),
        ("0.0001 ul/min", "0.006UH"),
    ],
)
def test_a_rate_goes_in_the_unit_with_the_finest_step(rate: str, expected: str) -> None:
    assert wire(rate, RATE_UNITS) == expected


@pytest.mark.parametrize(
    ("volume", "expected"),
    [
        ("1.5 ml", "1.500ML"),
        # A tie (1 µl steps either way) goes to the larger unit, as people write volumes.
        ("1500 ul", "1.500ML"),
        ("1 ml", "1.000ML"),
        ("0.75 ml", "750.0UL"),
        ("12.34 ul", "12.34UL"),
        ("0.5 ul", "0.500UL"),
        ("9.999 ml", "9.999ML"),
        ("10 ml", "10.00ML"),
        ("9999 ml", "9999ML"),
        ("1 l", "1000ML"),
    ],
)
def test_a_volume_goes_in_the_unit_with_the_finest_step(volume: str, expected: str) -> None:
    assert wire(volume, VOLUME_UNITS) == expected


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        (
            "1.23456 ml",
            "1.23456 ml cannot be sent to the pump, which takes at most 4 digits (3 after the "
            "point) in ml or µl: the nearest it takes is 1.235 ml",
        ),
        (
            "12.3456 ml",
            "12.3456 ml cannot be sent to the pump, which takes at most 4 digits (3 after the "
            "point) in ml or µl: the nearest it takes is 12.35 ml",
        ),
        (
            "0.0001 ul",
            "0.0001 µl cannot be sent to the pump, which takes at most 4 digits (3 after the "
            "point) in ml or µl: the nearest it takes is 0 µl",
        ),
        ("10000 ml", "10000 ml cannot be sent to the pump: the most it takes is 9999 ml"),
        ("0 ml", "0 ml cannot be sent to the pump: it must be above zero"),
        ("-1 ml", "-1 ml cannot be sent to the pump: it must be above zero"),
    ],
)
def test_a_volume_that_would_lose_digits_is_refused(volume: str, message: str) -> None:
    with pytest.raises(NotRepresentable) as raised:
        encode(parse_quantity(volume), VOLUME_UNITS)
    assert str(raised.value) == message


def test_a_rate_too_large_for_every_unit_is_refused() -> None:
    with pytest.raises(NotRepresentable, match=r"the most it takes is 9999 ml/min$"):
        encode(parse_quantity("10000 ml/min"), RATE_UNITS)


@pytest.mark.parametrize(
    ("magnitude", "expected"),
    [
        (0, "0.000"),
        (5, "5.000"),
        (9.999, "9.999"),
        # Rounded up into the next decade, where one decimal fewer fits.
        (9.9996, "10.00"),
        (99.996, "100.0"),
        (999.96, "1000"),
        (14.5, "14.50"),
        (0.0004, "0.000"),
        (12345, "9999"),
    ],
)
def test_text_rounds_to_4_digits(magnitude: float, expected: str) -> None:
    assert number.text(magnitude) == expected


def test_nearest_rounds_a_volume_that_needs_a_5th_digit() -> None:
    found = nearest(parse_quantity("12.377 ml"), VOLUME_UNITS)
    assert found is not None
    assert (found.digits, found.unit.code) == ("12.38", "ML")
    assert nearest(parse_quantity("20000 ml"), VOLUME_UNITS) is None


_DIGITS = st.integers(min_value=1, max_value=9999)
_PLACES = st.integers(min_value=0, max_value=3)


@given(_DIGITS, _PLACES, st.sampled_from(RATE_UNITS))
def test_every_value_the_pump_can_take_is_sent_exactly(
    digits: int, places: int, unit: number.WireUnit
) -> None:
    value = registry().Quantity(digits / 10**places, unit.unit)
    encoded = encode(value, RATE_UNITS)

    sent = encoded.quantity.m_as(unit.unit)
    assert sent == pytest.approx(value.magnitude, rel=1e-12)
    assert len(encoded.digits.replace(".", "")) <= 4
    assert len(encoded.digits.partition(".")[2]) <= 3


@given(st.integers(min_value=10001, max_value=99999))
def test_five_significant_digits_in_ml_are_refused(digits: int) -> None:
    # 1.0001 ml to 9.9999 ml: 5 digits in ml, and 1000.1 µl or more is 5 digits in µl too.
    if digits % 10 == 0:
        return
    with pytest.raises(NotRepresentable):
        encode(registry().Quantity(digits / 10**4, "ml"), VOLUME_UNITS)
