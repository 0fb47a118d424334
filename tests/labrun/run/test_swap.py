"""swap(protocol): an edited protocol replaces the running one, mapped by step ids."""

import pytest

from labrun.event import EventType
from labrun.run.projection import RunView
from labrun.run.state import RunRefused, RunState

BEFORE = """
steps:
  - lab.work: {seconds: 10}
    id: warm
  - lab.work: {seconds: 100}
    id: soak
  - lab.echo: {value: old}
    id: report
"""


async def running_at(rig, text, seconds, parameters=None):
    r = rig(text, parameters)
    r.start()
    await r.advance_to(seconds)
    return r


async def test_steps_not_yet_run_use_the_new_definitions(rig, compiled):
    r = await running_at(rig, BEFORE, 20)
    r.run.swap(compiled(BEFORE.replace("value: old", "value: new")), by="ann")
    assert await r.finish() is RunState.COMPLETED
    assert r.run.view.steps["2"].result == "new"


async def test_a_running_step_whose_arguments_changed_gets_them(rig, compiled):
    r = await running_at(rig, BEFORE, 20)
    r.run.swap(compiled(BEFORE.replace("seconds: 100", "seconds: 40")), by="ann")
    await r.finish()
    assert r.time_of("1", "completed") == 50
    swaps = [e.payload for e in r.of("1", EventType.REQUEST)]
    assert swaps == [{"request": "swap", "data": {"seconds": 40.0, "pausable": True}, "by": "ann"}]


async def test_a_running_step_whose_arguments_did_not_change_is_left_alone(rig, compiled):
    r = await running_at(rig, BEFORE, 20)
    r.run.swap(compiled(BEFORE.replace("value: old", "value: new")))
    await r.finish()
    assert r.of("1", EventType.REQUEST) == []
    assert r.of("1", EventType.RESTART) == []


async def test_steps_inserted_before_the_running_one_move_it_to_its_new_path(rig, compiled):
    r = await running_at(rig, BEFORE, 20)
    edited = BEFORE.replace("steps:\n", "steps:\n  - lab.echo: {value: first}\n    id: first\n", 1)
    edited += "  - lab.echo: {value: added}\n"
    r.run.swap(compiled(edited), source=edited)
    assert await r.finish() is RunState.COMPLETED
    # The running step goes on as step 2; the inserted step was before it: it never runs.
    assert r.time_of("2", "completed") == 110
    assert r.started()[-2:] == ["3", "4"]
    assert "0" not in r.run.view.steps
    assert r.run.view.steps["1"].state == "completed"  # warm, at its new path
    assert r.run.protocol.step("4") is not None


async def test_a_swap_is_recorded_with_its_mapping_and_source(rig, compiled):
    r = await running_at(rig, BEFORE, 20)
    edited = BEFORE.replace("value: old", "value: new")
    r.run.swap(compiled(edited), source=edited, by="ann")
    swap = r.of("", EventType.REQUEST)[-1].payload
    assert swap == {
        "request": "swap",
        "file": "<text>",
        "source": edited,
        "mapping": {"": "", "0": "0", "1": "1", "2": "2"},
        "by": "ann",
    }


async def test_the_state_after_a_swap_replays_from_the_events(rig, compiled):
    r = await running_at(rig, BEFORE, 20)
    edited = BEFORE.replace("steps:\n", "steps:\n  - lab.echo: {value: first}\n", 1)
    r.run.swap(compiled(edited.replace("seconds: 100", "seconds: 50")))
    await r.finish()
    view = RunView()
    for event in r.events:
        view.apply(event)
    assert view == r.run.view


async def test_a_swap_inside_a_loop_and_a_parallel(rig, compiled):
    text = """
steps:
  - repeat: 3
    id: loop
    steps:
      - parallel:
          - lab.work: {seconds: 10}
            id: left
          - lab.work: {seconds: 20}
            id: right
        id: both
"""
    r = await running_at(rig, text, 25)
    edited = text.replace("seconds: 20", "seconds: 30").replace("repeat: 3", "repeat: 4")
    r.run.swap(compiled(edited))
    await r.finish()
    assert r.time_of("0.0.1@1", "completed") == 50
    assert r.started()[-3:] == ["0.0@3", "0.0.0@3", "0.0.1@3"]
    assert r.time_of("0", "completed") == 110


async def refused(r, protocol, source=None):
    before = (len(r.events), r.run.protocol)
    with pytest.raises(RunRefused) as error:
        r.run.swap(protocol, source=source)
    assert (len(r.events), r.run.protocol) == before
    return error.value


async def test_a_running_step_without_an_id_cannot_be_mapped(rig, compiled):
    text = "steps:\n  - lab.work: {seconds: 10}\n  - lab.echo: {value: 1}\n"
    r = await running_at(rig, text, 2)
    error = await refused(r, compiled(text))
    assert error.reason.startswith("the new protocol cannot replace the running one: step 0 (")
    assert error.diagnostics[0].hint == "give the steps the run may be in an id (id: ...)"


async def test_a_running_step_missing_from_the_new_protocol_is_refused(rig, compiled):
    r = await running_at(rig, BEFORE, 20)
    edited = BEFORE.replace("id: soak", "id: bake")
    error = await refused(r, compiled(edited), edited)
    assert [d.message for d in error.diagnostics] == [
        "step 'soak' is where the run is, and the new protocol has no step with that id"
    ]


async def test_a_running_step_that_changes_process_is_refused(rig, compiled):
    r = await running_at(rig, BEFORE, 20)
    edited = BEFORE.replace("lab.work: {seconds: 100}", "timer.wait: 100 s")
    error = await refused(r, compiled(edited), edited)
    diagnostic = error.diagnostics[0]
    assert diagnostic.render().splitlines() == [
        "<text>:5:5: error: step 'soak' is where the run is, and it was a lab.work step, "
        "not a timer.wait step",
        "      - timer.wait: 100 s",
        "        ^",
        "  hint: a step the run is in keeps what it does; give the new step another id",
    ]


async def test_a_running_step_moved_out_of_its_loop_is_refused(rig, compiled):
    text = """
steps:
  - repeat: 2
    id: loop
    steps:
      - lab.work: {seconds: 10}
        id: soak
"""
    r = await running_at(rig, text, 2)
    error = await refused(r, compiled("steps:\n  - lab.work: {seconds: 10}\n    id: soak\n"))
    assert "it is not inside a repeat step 'loop' any more" in error.diagnostics[0].message


async def test_a_loop_cut_below_the_iteration_the_run_is_in_is_refused(rig, compiled):
    text = """
steps:
  - repeat: 5
    id: loop
    steps:
      - lab.work: {seconds: 10}
        id: soak
"""
    r = await running_at(rig, text, 35)
    error = await refused(r, compiled(text.replace("repeat: 5", "repeat: 2")))
    assert error.diagnostics[0].message == (
        "the run is at step 'soak', and iteration 3 of step 0 does not exist: "
        "it runs 2 times (counted from 0)"
    )


async def test_new_arguments_that_are_invalid_are_refused(rig, compiled):
    text = "parameters:\n  d: {type: str, default: 1 s}\nsteps:\n  - timer.wait: 10 s\n    id: w\n"
    r = await running_at(rig, text, 2, {"d": "soon"})
    error = await refused(r, compiled(text.replace("10 s\n", "${d}\n")))
    assert error.diagnostics[0].message.startswith("invalid arguments: duration: ")
    assert r.run.state is RunState.RUNNING


async def test_new_parameters_without_a_value_are_refused(rig, compiled):
    text = "steps:\n  - lab.work: {seconds: 10}\n    id: w\n"
    r = await running_at(rig, text, 2)
    edited = "parameters:\n  n: {type: int}\n" + text
    error = await refused(r, compiled(edited))
    assert error.diagnostics[0].message == (
        "the run's parameter values do not fit: n: no value given, and the parameter has no default"
    )


async def test_a_failed_step_whose_arguments_changed_is_refused(rig, compiled):
    text = "steps:\n  - lab.flaky: {failures: 1}\n    id: f\n"
    r = await running_at(rig, text, 1)
    assert r.run.state is RunState.FAILED
    error = await refused(r, compiled(text.replace("failures: 1", "failures: 0")))
    assert error.diagnostics[0].hint == "retry or skip it first"
