"""The step tree: paths, ids, positions, typed fields, estimates and immutability."""

import dataclasses
import math

import pytest
from lab_plugin import build
from pydantic import BaseModel

from labrun.protocol import (
    ErrorAction,
    OnError,
    ParallelStep,
    Position,
    ProcessStep,
    Protocol,
    RepeatStep,
    SequenceStep,
    SweepStep,
)
from labrun.quantity import format_quantity, parse_quantity

TREE = """
name: Tree
parameters:
  temp: {unit: degC, default: 37 degC}
  cycles: {type: int, default: 3}
steps:
  - lab.wait: 10 s
    name: First
    id: first
  - repeat: ${cycles}
    steps:
      - lab.wait: 5 s
      - lab.count: 2
  - parallel:
      - lab.wait: 1 min
      - steps:
          - lab.wait: 20 s
          - lab.wait: 30 s
  - sweep: t
    values: 20 degC to 30 degC by 5 degC
    steps:
      - lab.heat: {target: "${t}", hold: 2 s}
      - lab.note: at ${t}
"""


def compiled(text: str) -> Protocol:
    result = build(text)
    assert result.protocol is not None, [d.render() for d in result.diagnostics]
    return result.protocol


def test_paths_count_from_zero_and_nest_with_dots():
    protocol = compiled(TREE)
    assert [(step.path, step.kind) for step in protocol.walk()] == [
        ("", "sequence"),
        ("0", "process"),
        ("1", "repeat"),
        ("1.0", "process"),
        ("1.1", "process"),
        ("2", "parallel"),
        ("2.0", "process"),
        ("2.1", "sequence"),
        ("2.1.0", "process"),
        ("2.1.1", "process"),
        ("3", "sweep"),
        ("3.0", "process"),
        ("3.1", "process"),
    ]


def test_nodes_have_their_id_name_and_position():
    protocol = compiled(TREE)
    first = protocol.step("0")
    assert first is not None
    assert (first.id, first.name, first.position) == ("first", "First", Position("p.yml", 6, 5))
    assert protocol.step_by_id("first") is first
    assert protocol.step("9") is None
    assert protocol.step_by_id("missing") is None
    assert protocol.process_steps == 8


def test_node_types_and_their_fields():
    protocol = compiled(TREE)
    repeat, parallel, sweep = (protocol.step(path) for path in ("1", "2", "3"))
    assert isinstance(repeat, RepeatStep)
    assert repeat.count_in({"cycles": 4}) == 4
    assert isinstance(parallel, ParallelStep)
    assert len(parallel.branches) == 2
    assert isinstance(parallel.branches[1], SequenceStep)
    assert isinstance(sweep, SweepStep)
    assert sweep.variable == "t"
    assert [format_quantity(value) for value in sweep.values] == ["20 °C", "25 °C", "30 °C"]


def test_estimates_sum_take_the_longest_multiply_and_sum_iterations():
    protocol = compiled(TREE)
    estimates = {step.path: step.estimate for step in protocol.walk()}
    assert estimates["0"] == 10
    assert estimates["1"] == 3 * (5 + 2)
    assert estimates["2"] == 60  # the longest branch: 60 s against 20 + 30 s
    assert estimates["2.1"] == 50
    # The note's duration is unknown, so the sweep's is; the heat step's depends on ${t}.
    assert estimates["3.0"] is None
    assert estimates["3"] is None
    assert protocol.estimate is None


def test_a_sweep_sums_its_iterations():
    protocol = compiled(
        """
        steps:
          - sweep: d
            values: [1 s, 2 s, 4 s]
            steps:
              - lab.wait: ${d}
              - lab.wait: 10 s
        """
    )
    assert protocol.estimate == (1 + 2 + 4) + 3 * 10
    sweep = protocol.step("0")
    assert sweep is not None
    assert sweep.estimate == 37
    step = protocol.step("0.0")
    assert step is not None
    assert step.estimate is None  # it varies from one iteration to the next
    assert step.depends_on == ("d",)


def test_forever_wins_over_unknown_and_unknown_over_numbers():
    assert compiled("steps:\n  - lab.spin:\n  - lab.note: hi\n").estimate == math.inf
    assert compiled("steps:\n  - lab.wait: 1 s\n  - lab.note: hi\n").estimate is None
    parallel = compiled("steps:\n  - parallel:\n      - lab.spin:\n      - lab.wait: 1 s\n")
    assert parallel.estimate == math.inf


def test_a_repeat_of_zero_takes_no_time_and_is_a_warning():
    result = build("steps:\n  - repeat: 0\n    steps:\n      - lab.spin:\n")
    assert result.protocol is not None
    assert result.protocol.estimate == 0
    assert [d.message for d in result.diagnostics] == ["repeat 0 times: these steps never run"]


def test_estimates_use_parameter_defaults_and_record_what_they_depend_on():
    protocol = compiled(
        """
        parameters:
          hold: {unit: min, default: 2 min}
          n: {type: int, default: 4}
        steps:
          - repeat: ${n}
            steps:
              - lab.wait: ${hold}
        """
    )
    assert protocol.estimate == 4 * 120
    assert protocol.root.depends_on == ("hold", "n")


def test_steps_using_a_parameter_without_default_have_no_static_estimate():
    protocol = compiled("parameters:\n  hold: {unit: min}\nsteps:\n  - lab.wait: ${hold}\n")
    assert protocol.estimate is None


def test_a_process_step_resolves_its_arguments_for_given_values():
    protocol = compiled(TREE)
    heat = protocol.step("3.0")
    assert isinstance(heat, ProcessStep)
    assert heat.process == "lab.heat"
    assert heat.spec.qualified_name == "lab.heat"
    data = heat.resolve({"t": parse_quantity("25 degC"), "temp": parse_quantity("37 degC")})
    assert isinstance(data, BaseModel)
    assert format_quantity(data.target) == "25 °C"
    note = protocol.step("3.1")
    assert isinstance(note, ProcessStep)
    assert note.resolve({"t": parse_quantity("25 degC")}).text == "at 25 °C"
    with pytest.raises(LookupError, match=r"no value for \$\{t\}"):
        note.resolve({})


def test_on_error_and_timeout_are_typed():
    protocol = compiled(
        """
        steps:
          - lab.wait: 1 s
            on_error: {retry: 3, backoff: 10 s}
            timeout: 1 h
          - lab.wait: 1 s
            on_error: skip
          - lab.wait: 1 s
        """
    )
    retry, skip, default = (protocol.step(path) for path in ("0", "1", "2"))
    assert isinstance(retry, ProcessStep)
    assert retry.on_error == OnError(ErrorAction.RETRY, times=3, backoff=10.0)
    assert [retry.on_error.delay(attempt) for attempt in (1, 2, 3)] == [10, 20, 40]
    assert retry.timeout == 3600
    assert isinstance(skip, ProcessStep)
    assert skip.on_error.action is ErrorAction.SKIP
    assert isinstance(default, ProcessStep)
    assert default.on_error == OnError(ErrorAction.PAUSE)
    assert default.timeout is None


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("retry", "say how many times to retry"),
        ("sikp", "unknown on_error 'sikp'"),
        ("{retry: 0}", "retry takes a whole number from 1 to 100"),
        ("{retry: 2, backoff: 5 ml}", "bad backoff: expected a time, got 5 ml (a volume)"),
        ("{backoff: 5 s}", "on_error as a mapping needs 'retry: N'"),
    ],
)
def test_bad_on_error(policy: str, message: str):
    result = build(f"steps:\n  - lab.wait: 1 s\n    on_error: {policy}\n")
    assert [d.message for d in result.diagnostics] == [message]


def test_bad_timeout():
    result = build("steps:\n  - lab.wait: 1 s\n    timeout: 0 s\n")
    assert [d.message for d in result.diagnostics] == ["a timeout must be longer than 0 s"]


def test_the_tree_is_immutable():
    protocol = compiled(TREE)
    step = protocol.step("0")
    assert step is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.name = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        protocol.parameters["x"] = None  # type: ignore[index]
    assert isinstance(protocol.root.steps, tuple)
