"""`prompt.ask`: the operator's answer, refused with a reason until it fits the question."""

from typing import Any

import pytest
from pydantic import ValidationError

from labrun import EventType, StepState
from labrun.testing import HarnessStalled, ProcessRun, Script, run_process
from labrun_prompt import plugin

ASK = plugin.processes["ask"]
YES_NO = {"message": "Is the plate loaded?", "choices": ["yes", "no"]}
VOLUME = {"message": "Volume left?", "unit": "ul", "minimum": 1, "maximum": 100}
NUMBER = {"message": "How many plates?", "minimum": 0, "maximum": 10}
TEXT = {"message": "Batch number?"}


def answers(*messages: Any) -> Script:
    script = Script()
    for message in messages:
        script = script.on_receive().answer(message)
    return script


def refusals(run: ProcessRun) -> list[str]:
    """The reasons given for refused answers, from the warnings; checked against locations."""
    warnings = [d for d in run.diagnostics if d.get("code") == "answer-refused"]
    assert all(w["level"] == "warning" for w in warnings)
    reasons = [w["message"].removeprefix("answer refused: ") for w in warnings]
    assert [w["message"] for w in warnings] == [f"answer refused: {r}" for r in reasons]
    assert [loc["refused"] for loc in run.locations if loc["refused"]] == reasons
    return reasons


# The arguments.


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"choices": ["a", "b"], "unit": "ul"}, "give either choices, or a unit and bounds"),
        ({"choices": ["a", "b"], "minimum": 1}, "give either choices, or a unit and bounds"),
        ({"choices": ["a", "b"], "maximum": 1}, "give either choices, or a unit and bounds"),
        ({"choices": []}, "choices cannot be empty"),
        ({"unit": "furlongz"}, "unknown unit 'furlongz'"),
        ({"unit": "ul", "minimum": 5, "maximum": 1}, "minimum is above maximum"),
        ({"minimum": 5, "maximum": 1}, "minimum is above maximum"),
    ],
)
def test_bad_argument_combinations_are_rejected(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        ASK.validate({"message": "?", **data})


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (YES_NO, "choice"),
        (VOLUME, "quantity"),
        ({"message": "Temperature?", "unit": "degC"}, "quantity"),
        (NUMBER, "number"),
        ({"message": "At least?", "minimum": 3}, "number"),
        ({"message": "Equal?", "minimum": 3, "maximum": 3}, "number"),
        (TEXT, "text"),
    ],
)
async def test_the_location_asks_the_question(data: dict[str, Any], kind: str) -> None:
    run = await run_process(ASK, data, script=Script().on_receive().halt())

    assert run.locations[0] == {
        "message": data["message"],
        "kind": kind,
        "choices": data.get("choices"),
        "unit": data.get("unit"),
        "minimum": data.get("minimum"),
        "maximum": data.get("maximum"),
        "refused": None,
    }


async def test_it_waits_in_receive_until_answered() -> None:
    with pytest.raises(HarnessStalled, match=r"waits in receive\(\) and no answer is scripted"):
        await run_process(ASK, TEXT)


async def test_it_waits_however_long_the_answer_takes() -> None:
    run = await run_process(ASK, TEXT, script=Script().at(3 * 3600).answer("B-12"))
    assert run.state is StepState.COMPLETED
    assert run.elapsed == 3 * 3600


# Answers: the accepted one is the step's result.


async def test_a_choice() -> None:
    run = await run_process(ASK, YES_NO, script=answers("maybe", "Yes", "no"))

    assert refusals(run) == ["'maybe' is not one of: yes, no", "'Yes' is not one of: yes, no"]
    assert run.state is StepState.COMPLETED
    assert run.result == "no"
    assert StepState.FAILED not in run.states


async def test_the_result_is_in_the_completed_event() -> None:
    run = await run_process(ASK, YES_NO, script=answers("yes"))
    completed = run.of_type(EventType.STATE)[-1]
    assert completed.payload == {"state": "completed", "previous": "running", "result": "yes"}


async def test_a_quantity_is_converted_to_the_prompt_unit() -> None:
    run = await run_process(ASK, VOLUME, script=answers("0.02 ml"))

    assert run.result == {"magnitude": pytest.approx(20), "units": "microliter"}
    assert refusals(run) == []


async def test_a_quantity_in_an_offset_unit() -> None:
    data = {"message": "Temperature?", "unit": "degC"}
    run = await run_process(ASK, data, script=answers("310.15 K"))
    assert run.result == {"magnitude": pytest.approx(37), "units": "degree_Celsius"}


async def test_bad_quantities_are_refused_until_one_fits() -> None:
    run = await run_process(
        ASK, VOLUME, script=answers("5 ml", "0.5 ul", "2 s", "lots", "12", 12, "12 ul")
    )

    assert refusals(run) == [
        "5000 ul is above the maximum 100 ul",
        "0.5 ul is below the minimum 1 ul",
        "expected a value in ul, got 2 s",
        "'lots' is not a quantity: expected a number followed by a unit, such as '10 min'",
        "'12' has no unit: a quantity needs a unit, such as '10 min'",
        "12 is not a quantity; answer like '12 ul'",
    ]
    assert run.result == {"magnitude": 12, "units": "microliter"}


async def test_a_number_within_its_bounds() -> None:
    run = await run_process(
        ASK, NUMBER, script=answers("11", "-1", "many", "nan", "inf", True, "7.5")
    )

    assert refusals(run) == [
        "11 is above the maximum 10",
        "-1 is below the minimum 0",
        "'many' is not a number",
        "'nan' is not a finite number",
        "'inf' is not a finite number",
        "True is not a number",
    ]
    assert run.result == 7.5


@pytest.mark.parametrize("answer", ["0", "10", 10, "  3  "])
async def test_the_bounds_of_a_number_are_inclusive(answer: Any) -> None:
    run = await run_process(ASK, NUMBER, script=answers(answer))
    assert run.result == float(answer)


async def test_text() -> None:
    run = await run_process(ASK, TEXT, script=answers("", "   ", 5, "B-12"))

    assert refusals(run) == ["the answer is empty", "the answer is empty", "5 is not text"]
    assert run.result == "B-12"


async def test_a_refusal_is_kept_on_the_location_until_the_next_answer() -> None:
    run = await run_process(ASK, YES_NO, script=answers("maybe", "perhaps", "yes"))

    assert [loc["refused"] for loc in run.locations] == [
        None,
        "'maybe' is not one of: yes, no",
        "'perhaps' is not one of: yes, no",
    ]


async def test_a_prompt_can_be_paused_and_asks_again_on_resume() -> None:
    script = Script().on_receive().pause().after(60).resume().on_receive().answer("yes")
    run = await run_process(ASK, YES_NO, script=script)

    assert StepState.PAUSED in run.states
    assert len(run.locations) == 2
    assert run.result == "yes"
    assert run.elapsed == 60
