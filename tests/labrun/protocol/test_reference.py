"""References `${name}`: checked against parameters and sweep variables, never evaluated."""

import pytest
from lab_plugin import build

from labrun.protocol import ProcessStep
from labrun.protocol.reference import Const, MapOf, Ref, Text
from labrun.quantity import parse_quantity


def messages(text: str) -> list[tuple[str, str | None]]:
    return [(d.message, d.hint) for d in build(text).diagnostics]


def step(text: str, path: str = "0") -> ProcessStep:
    result = build(text)
    assert result.protocol is not None, [d.render() for d in result.diagnostics]
    found = result.protocol.step(path)
    assert isinstance(found, ProcessStep)
    return found


def test_a_whole_reference_keeps_the_value_and_text_gets_it_written_out():
    found = step(
        """
        parameters:
          temp: {unit: degC, default: 37 degC}
        steps:
          - lab.note: "Set the bath to ${temp}, costs $${price}"
        """
    )
    ((_, template),) = found.arguments.items
    assert isinstance(template, Text)
    assert template.show() == "Set the bath to ${temp}, costs $${price}"
    data = found.resolve({"temp": parse_quantity("40 degC")})
    assert data.text == "Set the bath to 40 °C, costs ${price}"


def test_a_scalar_that_is_one_reference_is_a_ref():
    found = step("parameters:\n  hold: {unit: s, default: 5 s}\nsteps:\n  - lab.wait: ${ hold }\n")
    assert found.arguments == MapOf(
        (("duration", Ref("hold", found.arguments.items[0][1].position)),),
        found.arguments.position,
    )


def test_text_without_references_is_constant():
    found = step("steps:\n  - lab.note: plain $$ text\n")
    ((_, template),) = found.arguments.items
    assert isinstance(template, Const)
    assert template.value == "plain $$ text"


def test_a_reference_of_the_wrong_dimension():
    assert messages(
        "parameters:\n  vol: {unit: ml, default: 5 ml}\nsteps:\n  - lab.wait: ${vol}\n"
    ) == [
        (
            "bad duration for lab.wait: expected a time, got 5 ml (a volume)",
            "${vol} is the parameter 'vol': a volume (ml), default 5 ml",
        )
    ]


def test_a_reference_of_the_wrong_type():
    assert messages("parameters:\n  n: {type: int, default: 3}\nsteps:\n  - lab.wait: ${n}\n") == [
        (
            "bad duration for lab.wait: a time needs a unit, such as '10 min'",
            "${n} is the parameter 'n': an integer, default 3",
        )
    ]


def test_text_built_from_a_reference_is_checked_too():
    assert messages(
        "parameters:\n  n: {type: int, default: 3}\nsteps:\n  - lab.wait: ${n} ml\n"
    ) == [
        (
            "bad duration for lab.wait: expected a time, got 3 ml (a volume)",
            "${n} is the parameter 'n': an integer, default 3",
        )
    ]


def test_every_value_of_a_sweep_variable_is_checked():
    assert messages(
        """
        steps:
          - sweep: t
            values: [20 degC, 120 degC, 150 degC]
            steps:
              - lab.heat: {target: "${t}", hold: 1 s}
        """
    ) == [
        (
            "bad target for lab.heat: 120 °C is above the maximum 100 °C",
            "${t} is the sweep variable over 20 degC, 120 degC, 150 degC",
        )
    ]


def test_undefined_reference_lists_the_names_in_scope():
    assert messages(
        """
        parameters:
          temp: {unit: degC, default: 37 degC}
        steps:
          - sweep: well
            values: [A1, A2]
            steps:
              - lab.note: ${wel}
        """
    ) == [
        (
            "unknown parameter 'wel'",
            "did you mean well? parameters are: temp; sweep variables here: well",
        )
    ]


@pytest.mark.parametrize("written", ["${temp + 1}", "${__import__('os')}", "${}", "${1x}"])
def test_expressions_are_refused_not_evaluated(written: str):
    text = f'parameters:\n  temp: {{type: int, default: 1}}\nsteps:\n  - lab.note: "{written}"\n'
    assert messages(text) == [
        (
            f"invalid reference {written}",
            "a reference names a parameter or a sweep variable, as in ${temp}; "
            "expressions are not evaluated",
        )
    ]


def test_an_unclosed_reference():
    assert messages('steps:\n  - lab.note: "${temp"\n') == [
        ("unclosed reference in '${temp'", "close it with '}', or write $${ for a literal ${")
    ]


def test_a_sweep_variable_may_not_hide_a_parameter_or_another_variable():
    assert messages(
        """
        parameters:
          t: {type: int, default: 1}
        steps:
          - sweep: t
            values: [1, 2]
            steps:
              - sweep: u
                values: [1]
                steps:
                  - sweep: u
                    values: [2]
                    steps:
                      - lab.count: ${u}
        """
    ) == [
        ("the sweep variable 't' hides a parameter of the same name", "rename one of them"),
        (
            "the sweep variable 'u' hides the variable of an enclosing sweep of the same name",
            "rename one of them",
        ),
    ]


def test_repeat_counts_may_be_references_to_whole_numbers():
    assert messages(
        """
        parameters:
          temp: {unit: degC, default: 37 degC}
        steps:
          - repeat: ${temp}
            steps:
              - lab.wait: 1 s
        """
    ) == [
        (
            "the repeat count ${temp} must be a whole number",
            "${temp} is the parameter 'temp': a temperature (degC), default 37 °C",
        )
    ]


def test_sweep_values_cannot_refer_to_parameters():
    assert messages(
        'parameters:\n  a: {type: int, default: 1}\nsteps:\n  - sweep: x\n    values: ["${a}"]\n'
        "    steps:\n      - lab.count: ${x}\n"
    ) == [("the values of a sweep are written out; they cannot refer to ${...}", None)]
