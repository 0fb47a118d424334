"""Declaring processes on a `Plugin`, and what a `ProcessSpec` tells about them."""

import math
from datetime import timedelta
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from labrun import (
    Bounds,
    FlowRate,
    Plugin,
    ProcessContext,
    Quantity,
    QuantityType,
    Remaining,
    Temperature,
    Time,
    Volume,
)
from labrun.plugin import DeclarationProblem, spec_of


class Args(BaseModel):
    count: int = 1


class NoArgs(BaseModel):
    pass


class NotAModel:
    pass


def declare(plugin: Plugin, name: str, function: Any) -> None:
    plugin.process(name)(function)


async def good(data: Args, context: ProcessContext[Args]) -> None:
    """Do a thing.

    At length.
    """


def test_a_declared_process_is_registered_with_its_model_and_first_doc_line() -> None:
    plugin = Plugin("lab", description="Lab things.")
    declare(plugin, "do_it", good)

    spec = plugin.processes["do_it"]
    assert plugin.problems == []
    assert spec.namespace == "lab"
    assert spec.name == "do_it"
    assert spec.qualified_name == "lab.do_it"
    assert spec.function is good
    assert spec.args_model is Args
    assert spec.description == "Do a thing."


def test_the_decorator_returns_the_function_unchanged() -> None:
    plugin = Plugin("lab")
    assert plugin.process("do_it")(good) is good


def test_an_explicit_description_replaces_the_docstring() -> None:
    plugin = Plugin("lab")
    plugin.process("do_it", description="Something else.")(good)
    assert plugin.processes["do_it"].description == "Something else."


def blocking(data: Args, context: ProcessContext[Args]) -> None:
    pass


async def one_parameter(data: Args) -> None:
    pass


async def three_parameters(data: Args, context: ProcessContext[Args], extra: int) -> None:
    pass


async def unannotated(data, context: ProcessContext[Any]) -> None:  # type: ignore[no-untyped-def]
    pass


async def not_a_model(data: NotAModel, context: ProcessContext[Any]) -> None:
    pass


async def unresolvable(data: "Missing", context: ProcessContext[Any]) -> None:  # type: ignore[name-defined]  # noqa: F821
    pass


@pytest.mark.parametrize(
    ("name", "function", "reason"),
    [
        (
            "Bad-Name",
            good,
            "invalid process name 'Bad-Name': use lowercase letters, digits and _",
        ),
        (
            "blocking",
            blocking,
            "blocking is not an async function (declare it with async def)",
        ),
        ("one", one_parameter, "one_parameter must take exactly (data, context)"),
        ("three", three_parameters, "three_parameters must take exactly (data, context)"),
        ("unannotated", unannotated, "the argument 'data' of unannotated has no annotation"),
        (
            "not_a_model",
            not_a_model,
            "the argument 'data' of not_a_model must be annotated with a pydantic model",
        ),
        (
            "unresolvable",
            unresolvable,
            "cannot resolve the annotations of unresolvable: name 'Missing' is not defined",
        ),
    ],
)
def test_a_bad_declaration_is_recorded_not_raised(name: str, function: Any, reason: str) -> None:
    plugin = Plugin("lab")
    declare(plugin, name, function)

    assert plugin.problems == [DeclarationProblem(name, reason)]
    assert name not in plugin.processes


def test_a_duplicate_name_is_a_problem_and_the_first_declaration_stays() -> None:
    async def again(data: Args, context: ProcessContext[Args]) -> None:
        pass

    plugin = Plugin("lab")
    declare(plugin, "do_it", good)
    declare(plugin, "do_it", again)

    assert plugin.problems == [DeclarationProblem("do_it", "duplicate process name 'do_it'")]
    assert plugin.processes["do_it"].function is good


@pytest.mark.parametrize("namespace", ["Lab", "1lab", "lab-2", "", "lab.sub"])
def test_an_invalid_namespace_is_a_problem(namespace: str) -> None:
    plugin = Plugin(namespace)
    assert plugin.problems == [
        DeclarationProblem(
            "", f"invalid namespace {namespace!r}: use lowercase letters, digits and _"
        )
    ]


def test_every_problem_is_kept_and_the_good_processes_still_register() -> None:
    plugin = Plugin("lab")
    declare(plugin, "blocking", blocking)
    declare(plugin, "do_it", good)
    declare(plugin, "unannotated", unannotated)

    assert [problem.process for problem in plugin.problems] == ["blocking", "unannotated"]
    assert list(plugin.processes) == ["do_it"]


def test_spec_of_raises_the_declaration_problem() -> None:
    assert spec_of(good).qualified_name == "local.good"
    with pytest.raises(TypeError, match=r"^blocking is not an async function"):
        spec_of(blocking)


# The spec: validation, estimate, argument summary.


def test_validate_accepts_a_mapping_the_model_or_another_model() -> None:
    spec = spec_of(good)
    model = Args(count=3)

    assert spec.validate(model) is model
    assert spec.validate({"count": "4"}) == Args(count=4)
    assert spec.validate(NoArgs()) == Args()
    with pytest.raises(ValidationError):
        spec.validate({"count": "many"})


class Timed(BaseModel):
    duration: Time


async def timed(data: Timed, context: ProcessContext[Timed]) -> None:
    pass


@pytest.mark.parametrize(
    ("estimate", "seconds"),
    [
        (lambda data: data.duration, 5400.0),
        (lambda data: 30, 30.0),
        (lambda data: timedelta(minutes=2), 120.0),
        (lambda data: Remaining.UNKNOWN, None),
        (lambda data: None, None),
        (lambda data: Remaining.FOREVER, math.inf),
    ],
)
def test_the_estimate_is_in_seconds(estimate: Any, seconds: float | None) -> None:
    plugin = Plugin("lab")
    plugin.process("timed", estimate=estimate)(timed)
    spec = plugin.processes["timed"]

    assert spec.estimate(spec.validate({"duration": "90 min"})) == seconds


def test_without_an_estimator_the_estimate_is_unknown() -> None:
    spec = spec_of(timed)
    assert spec.estimate(spec.validate({"duration": "1 min"})) is None


class Everything(BaseModel):
    duration: Time
    volume: Volume = Field(default="5 ml", validate_default=True)
    rate: Annotated[FlowRate, Bounds(gt="0 ul/min")]
    area: Annotated[Quantity, QuantityType("[length] ** 2", name="area")]
    speed: Annotated[Quantity, QuantityType("[length] / [time]")]
    restated: Annotated[Temperature, QuantityType("[temperature]", name="set point")]
    label: str
    count: int = 3
    tags: list[str] = Field(default_factory=list)
    note: str | None = None


async def everything(data: Everything, context: ProcessContext[Everything]) -> None:
    pass


def test_the_summary_names_each_argument_its_kind_and_default() -> None:
    assert spec_of(everything).summary() == (
        "duration: time (required), "
        "volume: volume (default '5 ml'), "
        "rate: flow rate (required), "
        "area: area (required), "
        "speed: [length] / [time] (required), "
        "restated: set point (required), "
        "label: str (required), "
        "count: int (default 3), "
        "tags: list[str] (has a default), "
        "note: str | None (default None)"
    )


def test_the_summary_of_a_model_without_fields() -> None:
    async def bare(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        pass

    assert spec_of(bare).summary() == "no arguments"


@pytest.mark.parametrize(
    ("quantity_type", "label"),
    [
        (QuantityType("[time]"), "time"),
        (QuantityType("[length] ** 3 / [time]"), "flow rate"),
        (QuantityType("[]"), "ratio"),
        # Not spelled as a known key, but the same dimension: named through the registry.
        (QuantityType("[length]**3"), "volume"),
        (QuantityType("[time]", name="incubation"), "incubation"),
        (QuantityType("[length] / [time]"), "[length] / [time]"),
        (QuantityType("[nonsense"), "[nonsense"),
    ],
)
def test_quantity_type_label(quantity_type: QuantityType, label: str) -> None:
    assert quantity_type.label == label
