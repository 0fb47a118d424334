import re
import subprocess
import sys
from datetime import timedelta
from typing import Annotated, Any

import pint
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from labrun.quantity import (
    Bounds,
    Current,
    Dimensionless,
    FlowRate,
    Frequency,
    Length,
    Mass,
    Pressure,
    Quantity,
    QuantityError,
    QuantityType,
    Temperature,
    Time,
    Voltage,
    Volume,
    format_quantity,
    parse_quantity,
    registry,
    to_seconds,
)


def q(magnitude: float, units: str) -> Quantity:
    return registry().Quantity(magnitude, units)


def default(text: str) -> Any:
    return Field(default=text, validate_default=True)


class Args(BaseModel):
    time: Time = default("1 s")
    volume: Volume = default("1 ml")
    rate: FlowRate = default("1 ul/min")
    temperature: Temperature = default("20 degC")


class Bounded(BaseModel):
    target: Annotated[Quantity, QuantityType("[temperature]", ge="4 degC", le="95 degC")] = default(
        "20 degC"
    )
    rate: Annotated[FlowRate, Bounds(gt="0 ul/min", lt="10 ml/min")] = default("1 ul/min")
    restated: Annotated[Temperature, QuantityType("[temperature]", le="35 degC")] = default(
        "20 degC"
    )


def error_message(model: type[BaseModel], data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    errors = info.value.errors()
    assert len(errors) == 1
    assert errors[0]["type"] == "quantity"
    return str(errors[0]["msg"])


def test_registry_is_built_once_and_shared() -> None:
    assert registry() is registry()
    assert isinstance(parse_quantity("1 s"), registry().Quantity)
    assert isinstance(Args(time="1 s").time, registry().Quantity)


def test_import_and_model_definition_do_not_build_the_registry() -> None:
    code = (
        "from typing import Annotated\n"
        "from pydantic import BaseModel\n"
        "from labrun import quantity as q\n"
        "class M(BaseModel):\n"
        "    t: Annotated[q.Time, q.Bounds(ge='1 s')]\n"
        "    c: Annotated[q.Quantity, q.QuantityType('[temperature]', le='95 degC')]\n"
        "assert q.registry.cache_info().currsize == 0\n"
        "M(t='1 s', c='1 degC')\n"
        "assert q.registry.cache_info().currsize == 1\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("text", "magnitude", "units"),
    [
        ("10 min", 10, "minute"),
        ("5 ul/min", 5, "microliter / minute"),
        ("5 µl/min", 5, "microliter / minute"),
        ("37 degC", 37, "degree_Celsius"),
        ("37 °C", 37, "degree_Celsius"),
        ("-20.5 degC", -20.5, "degree_Celsius"),
        ("1e-3 mL", 0.001, "milliliter"),
        ("2 h", 2, "hour"),
        ("  +.5s ", 0.5, "second"),
        ("3. m ** 2", 3.0, "meter ** 2"),
        ("50 %", 50, "percent"),
    ],
)
def test_parse_quantity(text: str, magnitude: float, units: str) -> None:
    parsed = parse_quantity(text)
    assert parsed.magnitude == magnitude
    assert type(parsed.magnitude) is type(magnitude)
    assert f"{parsed.units}" == units


@pytest.mark.parametrize(
    ("text", "reason", "message"),
    [
        (
            "abc",
            "expected a number followed by a unit, such as '10 min'",
            "'abc' is not a quantity: expected a number followed by a unit, such as '10 min'",
        ),
        (
            "",
            "expected a number followed by a unit, such as '10 min'",
            "'' is not a quantity: expected a number followed by a unit, such as '10 min'",
        ),
        (
            "min 10",
            "expected a number followed by a unit, such as '10 min'",
            "'min 10' is not a quantity: expected a number followed by a unit, such as '10 min'",
        ),
        (
            "37",
            "a quantity needs a unit, such as '10 min'",
            "'37' has no unit: a quantity needs a unit, such as '10 min'",
        ),
        ("10 mni", "unknown unit 'mni'", "unknown unit 'mni' in '10 mni'"),
        ("5 ul/mni", "unknown unit 'mni'", "unknown unit 'mni' in '5 ul/mni'"),
        ("5 m)", "invalid unit 'm)'", "invalid unit 'm)' in '5 m)'"),
        ("10 min 30 s", "invalid unit 'min 30 s'", "invalid unit 'min 30 s' in '10 min 30 s'"),
        (
            "1e999 ml",
            "the magnitude must be finite",
            "'1e999 ml' is not a quantity: the magnitude must be finite",
        ),
    ],
)
def test_parse_quantity_errors(text: str, reason: str, message: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert isinstance(info.value, ValueError)
    assert info.value.text == text
    assert info.value.reason == reason
    assert str(info.value) == message


@pytest.mark.parametrize(
    "unit",
    [
        *("m²", "m^2", "m⁻¹", "m**(-1)", "m**-1", "m**0.5", "m**10", "(m/s)**2", "m ** 2 / s ** 2"),
        *("kg·m", "kg m", "Δ°C/min", "Ω", "Å", "µs", "μs", "1/min", "percent"),
    ],
)
def test_ordinary_unit_notation_is_accepted(unit: str) -> None:
    assert parse_quantity(f"2 {unit}") == q(2, unit)


def test_unit_text_cannot_make_pint_compute_huge_numbers() -> None:
    # pint evaluates unit text as arithmetic; each of these took minutes or forever before.
    units = ["m**9**9**9", "m*9**99999", "(9*m)**(99*99*99*99)", "m**(9**9)", "m*9**9;**9**9"]
    units += ["m*9**9.**9**9", "m*9**9\n**9**9", "m*9**(9)ⸯ**9**9", "m" * 101]
    code = (
        "from labrun.quantity import QuantityError, parse_quantity\n"
        f"for unit in {units!r}:\n"
        "    try:\n"
        "        parse_quantity('1 ' + unit)\n"
        "    except QuantityError as exc:\n"
        "        assert exc.reason == f'invalid unit {unit!r}', exc\n"
        "    else:\n"
        "        raise AssertionError(unit)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("unit", ["m**100", "m**1e1", "m**2**2", "((m)**2)**2", "m;s", "m.s"])
def test_unusual_unit_arithmetic_is_refused(unit: str) -> None:
    with pytest.raises(QuantityError, match=r"^invalid unit "):
        parse_quantity(f"1 {unit}")


@settings(deadline=None)
@given(st.text(alphabet="ms kgh°Cµ%/*^()+-.0123456789e²⁻·;>\n", max_size=20))
def test_parse_quantity_raises_only_quantity_error(unit: str) -> None:
    try:
        parsed = parse_quantity(f"1 {unit}")
    except QuantityError:
        return
    assert isinstance(parsed, registry().Quantity)


def test_magnitudes_must_fit_a_float() -> None:
    assert parse_quantity("9" * 299 + " m").magnitude == int("9" * 299)
    with pytest.raises(QuantityError, match="the magnitude must be finite"):
        parse_quantity("9" * 400 + " m")
    assert error_message(Args, {"volume": {"magnitude": 10**400, "units": "ml"}}).endswith(
        "ml' is not a quantity: the magnitude must be finite"
    )


def test_field_accepts_text_quantity_and_mapping() -> None:
    other_registry: pint.UnitRegistry[Any] = pint.UnitRegistry()
    accepted = [
        "37 degC",
        "37 °C",
        q(37, "degC"),
        other_registry.Quantity(37, "degC"),
        {"magnitude": 37, "units": "degree_Celsius"},
        {"magnitude": 37, "units": "degC"},
    ]
    for value in accepted:
        temperature = Args(temperature=value).temperature
        assert isinstance(temperature, registry().Quantity)
        assert temperature.magnitude == 37
        assert temperature.units == registry().degC
    assert Args.model_validate_json('{"volume": {"magnitude": 2.5, "units": "ml"}}').volume == q(
        2.5, "ml"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", 37, "a temperature needs a unit, such as '37 degC'"),
        ("temperature", 37.5, "a temperature needs a unit, such as '37 degC'"),
        ("temperature", "37", "a temperature needs a unit, such as '37 degC'"),
        ("time", 10, "a time needs a unit, such as '10 min'"),
        ("volume", " 5 ", "a volume needs a unit, such as '5 ml'"),
        ("rate", 5, "a flow rate needs a unit, such as '5 ul/min'"),
    ],
)
def test_bare_numbers_are_rejected(field: str, value: object, message: str) -> None:
    assert error_message(Args, {field: value}) == message


NOT_A_VOLUME = (
    "expected a volume as text like '5 ml' or an object with 'magnitude' and 'units', got "
)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("volume", "5 min", "expected a volume, got 5 min (a time)"),
        ("time", "5 ml", "expected a time, got 5 ml (a volume)"),
        ("rate", "5 ml", "expected a flow rate, got 5 ml (a volume)"),
        (
            "temperature",
            "5 delta_degC/min",
            "expected a temperature, got 5 Δ°C/min (a quantity of [temperature] / [time])",
        ),
        ("time", {"magnitude": 5, "units": "Hz"}, "expected a time, got 5 Hz (a frequency)"),
        ("time", q(2, "percent"), "expected a time, got 2 % (a ratio)"),
        (
            "volume",
            "abc",
            "'abc' is not a quantity: expected a number followed by a unit, such as '10 min'",
        ),
        ("volume", "10 mni", "unknown unit 'mni' in '10 mni'"),
        ("volume", {"magnitude": 5, "units": "mni"}, "unknown unit 'mni' in '5 mni'"),
        (
            "volume",
            {"magnitude": "5", "units": "ml"},
            "'5 ml' is not a quantity: the magnitude must be a number",
        ),
        (
            "volume",
            {"magnitude": True, "units": "ml"},
            "'True ml' is not a quantity: the magnitude must be a number",
        ),
        (
            "volume",
            {"magnitude": float("nan"), "units": "ml"},
            "'nan ml' is not a quantity: the magnitude must be finite",
        ),
        (
            "volume",
            q(float("inf"), "ml"),
            "'inf ml' is not a quantity: the magnitude must be finite",
        ),
        (
            "volume",
            [5, "ml"],
            f"{NOT_A_VOLUME}[5, 'ml']",
        ),
        (
            "volume",
            True,
            f"{NOT_A_VOLUME}True",
        ),
        (
            "volume",
            {"magnitude": 5, "units": "ml", "x": 1},
            NOT_A_VOLUME + "{'magnitude': 5, 'units': 'ml', 'x': 1}",
        ),
        (
            "volume",
            {"magnitude": 5, "units": 3},
            NOT_A_VOLUME + "{'magnitude': 5, 'units': 3}",
        ),
    ],
)
def test_invalid_values(field: str, value: object, message: str) -> None:
    assert error_message(Args, {field: value}) == message


def adapter_error(adapter: TypeAdapter[Any], value: object) -> str:
    with pytest.raises(ValidationError) as info:
        adapter.validate_python(value)
    return str(info.value.errors()[0]["msg"])


def test_unnamed_dimension_messages() -> None:
    area = TypeAdapter(Annotated[Quantity, QuantityType("[length] ** 2")])
    assert area.validate_python("2 m**2") == q(2, "m**2")
    assert adapter_error(area, 2) == "a quantity of [length] ** 2 needs a unit"
    assert adapter_error(area, None) == (
        "expected a quantity of [length] ** 2 as text or an object with 'magnitude' and 'units', "
        "got None"
    )
    assert adapter_error(area, "2 m") == (
        "expected a quantity of [length] ** 2, got 2 m (a length)"
    )
    named = TypeAdapter(Annotated[Quantity, QuantityType("[length] ** 2", name="area")])
    assert adapter_error(named, "2 m") == "expected an area, got 2 m (a length)"


@pytest.mark.parametrize(
    ("alias", "good", "bad", "message"),
    [
        (Length, "10 mm", "1 g", "expected a length, got 1 g (a mass)"),
        (Mass, "5 g", "1 V", "expected a mass, got 1 V (a voltage)"),
        (Voltage, "5 mV", "1 mA", "expected a voltage, got 1 mA (a current)"),
        (Current, "10 mA", "1 bar", "expected a current, got 1 bar (a pressure)"),
        (Frequency, "50 Hz", "1 s", "expected a frequency, got 1 s (a time)"),
        (Pressure, "1 bar", "1 m", "expected a pressure, got 1 m (a length)"),
        (Dimensionless, "50 %", "1 Hz", "expected a ratio, got 1 Hz (a frequency)"),
    ],
)
def test_other_aliases(alias: Any, good: str, bad: str, message: str) -> None:
    adapter = TypeAdapter(alias)
    assert adapter.validate_python(good) == parse_quantity(good)
    assert adapter_error(adapter, bad) == message


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("target", "277 K", "277 K is below the minimum 4 °C"),
        ("target", "39 degF", "39 °F is below the minimum 4 °C"),
        ("target", "3.9 degC", "3.9 °C is below the minimum 4 °C"),
        ("target", "95.5 degC", "95.5 °C is above the maximum 95 °C"),
        ("target", "210 degF", "210 °F is above the maximum 95 °C"),
        ("rate", "0 ul/min", "0 µl/min must be above 0 µl/min"),
        ("rate", "-1 nl/min", "-1 nl/min must be above 0 µl/min"),
        ("rate", "10 ml/min", "10 ml/min must be below 10 ml/min"),
        ("restated", "37 degC", "37 °C is above the maximum 35 °C"),
    ],
)
def test_bounds_reject(field: str, value: str, message: str) -> None:
    assert error_message(Bounded, {field: value}) == message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("target", "4 degC"),
        ("target", "95 degC"),
        ("target", "40 degF"),
        ("target", "200 degF"),
        ("target", "300 K"),
        ("rate", "1 nl/min"),
        ("rate", "9.99 ml/min"),
        ("restated", "35 degC"),
    ],
)
def test_bounds_accept(field: str, value: str) -> None:
    assert getattr(Bounded.model_validate({field: value}), field) == parse_quantity(value)


def test_restated_quantity_type_replaces_the_alias_type() -> None:
    replaced = TypeAdapter(Annotated[Volume, QuantityType("[time]")])
    assert replaced.validate_python("1 s") == q(1, "s")


def test_bad_definitions_raise_type_error_on_first_use() -> None:
    bad_dimension = TypeAdapter(Annotated[Quantity, QuantityType("[nonsense]")])
    with pytest.raises(TypeError, match=r"^bad dimension '\[nonsense\]'"):
        bad_dimension.validate_python("1 s")
    bad_bound = TypeAdapter(Annotated[Time, Bounds(ge="1 mni")])
    with pytest.raises(TypeError, match=r"^bad bound: unknown unit 'mni' in '1 mni'$"):
        bad_bound.validate_python("1 s")
    wrong_dimension = TypeAdapter(Annotated[Time, Bounds(le="1 m")])
    with pytest.raises(pint.DimensionalityError):
        wrong_dimension.validate_python("1 s")


def test_json_dump_and_round_trip_keep_offset_units() -> None:
    args = Args(time="2 h", volume="1e-3 mL", rate="5 ul/min", temperature="37 °C")
    dumped = args.model_dump(mode="json")
    assert dumped == {
        "time": {"magnitude": 2, "units": "hour"},
        "volume": {"magnitude": 0.001, "units": "milliliter"},
        "rate": {"magnitude": 5, "units": "microliter / minute"},
        "temperature": {"magnitude": 37, "units": "degree_Celsius"},
    }
    again = Args.model_validate(dumped)
    assert again == args
    assert again.temperature.units == registry().degC
    assert Args.model_validate_json(args.model_dump_json()) == args


def test_python_dump_keeps_quantities() -> None:
    args = Args(temperature="37 degC")
    assert args.model_dump()["temperature"] is args.temperature


def test_json_schema() -> None:
    schema = Bounded.model_json_schema()["properties"]["target"]
    pattern = schema["anyOf"][0].pop("pattern")  # checked in the next test
    assert pattern.startswith("^")
    assert schema == {
        "title": "Target",
        "anyOf": [
            {
                "type": "string",
                "examples": ["37 degC"],
            },
            {
                "type": "object",
                "properties": {"magnitude": {"type": "number"}, "units": {"type": "string"}},
                "required": ["magnitude", "units"],
                "additionalProperties": False,
            },
        ],
        "default": "20 degC",
        "x-dimension": "[temperature]",
        "x-quantity": "temperature",
        "x-minimum": "4 degC",
        "x-maximum": "95 degC",
    }
    rate = Bounded.model_json_schema()["properties"]["rate"]
    assert rate["x-exclusiveMinimum"] == "0 ul/min"
    assert rate["x-exclusiveMaximum"] == "10 ml/min"
    assert rate["x-quantity"] == "flow rate"
    assert "x-minimum" not in rate
    assert "x-maximum" not in rate
    output = Args.model_json_schema(mode="serialization")["properties"]["time"]
    assert output["type"] == "object"
    assert "anyOf" not in output
    assert output["x-dimension"] == "[time]"
    assert output["default"] == {"magnitude": 1, "units": "second"}


def test_json_schema_pattern_matches_number_and_unit() -> None:
    pattern = Args.model_json_schema()["properties"]["time"]["anyOf"][0]["pattern"]
    for text in ["10 min", "-20.5 degC", "1e-3 mL", "37 °C", " .5s", "1eV", "2 e", "1.5E+3 Pa"]:
        assert re.search(pattern, text)
    for text in ["abc", "37", "3.7", "-.5", "1e5", "1e-3", "", "min 10", " 4 "]:
        assert not re.search(pattern, text)


def test_unnamed_dimension_schema_has_no_name_or_example() -> None:
    schema = TypeAdapter(Annotated[Quantity, QuantityType("[length] ** 2")]).json_schema()
    assert "x-quantity" not in schema
    assert "examples" not in schema["anyOf"][0]
    assert schema["x-dimension"] == "[length] ** 2"


def test_to_seconds() -> None:
    assert to_seconds(q(10, "min")) == 600.0
    assert to_seconds(pint.UnitRegistry().Quantity(2, "h")) == 7200.0
    assert to_seconds(timedelta(minutes=1, milliseconds=500)) == 60.5
    assert to_seconds(3) == 3.0
    assert to_seconds(2.5) == 2.5
    assert isinstance(to_seconds(3), float)
    with pytest.raises(QuantityError) as info:
        to_seconds(q(5, "ml"))
    assert str(info.value) == "expected a time, got 5 ml (a volume)"
    assert info.value.text == "5 ml"
    assert info.value.reason == "expected a time"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (q(37, "degC"), "37 °C"),
        (q(5, "ul/min"), "5 µl/min"),
        (q(2, "h"), "2 h"),
        (q(2.0, "h"), "2 h"),
        (q(0.1, "s"), "0.1 s"),
        (q(0.1 + 0.2, "s"), "0.30000000000000004 s"),
        (q(1.5, "m**2"), "1.5 m²"),
        (q(50, "percent"), "50 %"),
        (q(0.5, ""), "0.5"),
    ],
)
def test_format_quantity(value: Quantity, text: str) -> None:
    assert format_quantity(value) == text
    if value.unitless:
        return
    assert parse_quantity(text) == value


UNITS = {
    Time: ["s", "min", "h", "ms"],
    Volume: ["ml", "ul", "l", "m**3"],
    FlowRate: ["ul/min", "ml/h", "l/s"],
    Temperature: ["degC", "degF", "K"],
    Pressure: ["bar", "Pa", "psi"],
}
magnitudes = st.one_of(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False),
)
typed_units = st.sampled_from([(alias, unit) for alias, units in UNITS.items() for unit in units])


@given(magnitude=magnitudes, typed_unit=typed_units)
def test_json_round_trip_preserves_quantities(magnitude: float, typed_unit: Any) -> None:
    alias, unit = typed_unit
    adapter = TypeAdapter(alias)
    value = adapter.validate_python(q(magnitude, unit))
    back = adapter.validate_json(adapter.dump_json(value))
    assert back.units == value.units == registry().parse_units(unit)
    assert back.magnitude == magnitude
    assert type(back.magnitude) is type(magnitude)
    assert adapter.validate_python(adapter.dump_python(value, mode="json")) == value
