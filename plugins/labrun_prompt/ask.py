"""`prompt.ask`: asks the operator a question and waits for a valid answer.

The kind of answer follows from the arguments: one of `choices`, a quantity in the
dimension of `unit`, a number when only bounds are given, or free text.
"""

from __future__ import annotations

import math
from typing import Any, Self

from pydantic import BaseModel, Field, model_validator

from labrun import Plugin, ProcessContext, Quantity, QuantityError, parse_quantity

plugin = Plugin("prompt", description="Questions to the operator.")


class AskArgs(BaseModel):
    message: str = Field(description="What to ask, as the operator will read it.")
    choices: list[str] | None = Field(default=None, description="The answers allowed.")
    unit: str | None = Field(
        default=None, description="Ask for a quantity in this unit's dimension, such as 'ul'."
    )
    minimum: float | None = Field(default=None, description="Smallest number accepted.")
    maximum: float | None = Field(default=None, description="Largest number accepted.")

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.choices is not None and (
            self.unit or self.minimum is not None or self.maximum is not None
        ):
            raise ValueError("give either choices, or a unit and bounds, not both")
        if self.choices is not None and not self.choices:
            raise ValueError("choices cannot be empty")
        if self.unit is not None:
            try:
                parse_quantity(f"1 {self.unit}")
            except QuantityError as error:
                raise ValueError(f"unknown unit {self.unit!r}") from error
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum is above maximum")
        return self


class PromptLocation(BaseModel):
    message: str
    kind: str
    choices: list[str] | None = None
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    refused: str | None = Field(default=None, description="Why the last answer was refused.")


class AnswerRefused(ValueError):
    """An answer that does not fit the question; the prompt keeps waiting."""


@plugin.process("ask")
async def ask(data: AskArgs, context: ProcessContext[AskArgs]) -> Any:
    """Ask the operator; the accepted answer is the step's result."""
    context.pausable = True
    location = PromptLocation(
        message=data.message,
        kind=_kind(data),
        choices=data.choices,
        unit=data.unit,
        minimum=data.minimum,
        maximum=data.maximum,
    )
    while True:
        context.send_location(location)
        answer = await context.receive()
        try:
            return accept(data, answer)
        except AnswerRefused as error:
            context.send_warning(f"answer refused: {error}", code="answer-refused")
            location = location.model_copy(update={"refused": str(error)})


def _kind(data: AskArgs) -> str:
    if data.choices is not None:
        return "choice"
    if data.unit is not None:
        return "quantity"
    if data.minimum is not None or data.maximum is not None:
        return "number"
    return "text"


def accept(data: AskArgs, answer: Any) -> Any:
    """The answer as the step's result, or AnswerRefused saying what is wrong."""
    kind = _kind(data)
    if kind == "choice":
        assert data.choices is not None
        if answer not in data.choices:
            raise AnswerRefused(f"{answer!r} is not one of: {', '.join(data.choices)}")
        return answer
    if kind == "quantity":
        return _quantity_answer(data, answer)
    if kind == "number":
        return _check_bounds(data, _number(answer), "")
    if not isinstance(answer, str):
        raise AnswerRefused(f"{answer!r} is not text")
    if not answer.strip():
        raise AnswerRefused("the answer is empty")
    return answer


def _number(answer: Any) -> float:
    if isinstance(answer, bool):
        raise AnswerRefused(f"{answer!r} is not a number")
    try:
        number = float(answer)
    except (TypeError, ValueError):
        raise AnswerRefused(f"{answer!r} is not a number") from None
    if not math.isfinite(number):
        raise AnswerRefused(f"{answer!r} is not a finite number")
    return number


def _quantity_answer(data: AskArgs, answer: Any) -> Quantity:
    assert data.unit is not None
    try:
        quantity = parse_quantity(answer) if isinstance(answer, str) else None
    except QuantityError as error:
        raise AnswerRefused(str(error)) from None
    if quantity is None:
        raise AnswerRefused(f"{answer!r} is not a quantity; answer like '12 {data.unit}'")
    try:
        converted = quantity.to(data.unit)
    except Exception:  # noqa: BLE001 - pint raises several kinds for incompatible units
        raise AnswerRefused(f"expected a value in {data.unit}, got {answer}") from None
    _check_bounds(data, float(converted.magnitude), f" {data.unit}")
    return converted


def _check_bounds(data: AskArgs, value: float, unit: str) -> float:
    if data.minimum is not None and value < data.minimum:
        raise AnswerRefused(f"{value:g}{unit} is below the minimum {data.minimum:g}{unit}")
    if data.maximum is not None and value > data.maximum:
        raise AnswerRefused(f"{value:g}{unit} is above the maximum {data.maximum:g}{unit}")
    return value
