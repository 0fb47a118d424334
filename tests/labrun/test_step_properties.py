"""Random request sequences against a few kinds of process, checking the step's invariants.

Each example runs in its own event loop on a virtual clock, so an example is a few
milliseconds whatever virtual time it covers.
"""

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from labrun import JumpRequest, PauseMode, ProcessContext, RequestKind, RequestRefused, StepState
from labrun.event import Event, EventType
from labrun.plugin import spec_of
from labrun.request import ALLOWED_STATES
from labrun.state import TRANSITIONS


class Args(BaseModel):
    phases: int = 3
    seconds: float = 10.0


def pausable() -> Any:
    async def process(data: Args, context: ProcessContext[Args]) -> str:
        context.pausable = True
        for phase in range(context.point or 0, data.phases):
            context.send_location({"phase": phase}, point=phase)
            await context.wait(context.sleep(data.seconds))
            await context.checkpoint()
        return "done"

    return process


def stubborn() -> Any:
    """Never pausable; handles jumps itself and checkpoints between phases."""

    async def process(data: Args, context: ProcessContext[Args]) -> str:
        phase = context.point or 0
        while phase < data.phases:
            context.send_location({"phase": phase}, point=phase)
            try:
                await context.wait(context.sleep(data.seconds))
            except JumpRequest as request:
                if isinstance(request.point, int):
                    phase = request.point
                continue
            await context.checkpoint()
            phase += 1
        return "done"

    return process


def flaky() -> Any:
    """Fails in phase 1 on every other invocation, so a retry gets past it."""
    invocations = 0

    async def process(data: Args, context: ProcessContext[Args]) -> str:
        nonlocal invocations
        invocations += 1
        context.pausable = invocations % 2 == 0
        for phase in range(context.point or 0, data.phases):
            context.send_location({"phase": phase}, point=phase)
            await context.wait(context.sleep(data.seconds))
            if phase == 1 and invocations % 2 == 1:
                raise RuntimeError("flaky")
        return "done"

    return process


def asking() -> Any:
    async def process(data: Args, context: ProcessContext[Args]) -> list[Any]:
        context.pausable = True
        answers = []
        for phase in range(context.point or 0, data.phases):
            context.send_location({"phase": phase}, point=phase)
            answers.append(await context.receive())
            await context.wait(context.sleep(data.seconds))
        return answers

    return process


PROCESSES = {"pausable": pausable, "stubborn": stubborn, "flaky": flaky, "asking": asking}

args = st.fixed_dictionaries(
    {"phases": st.integers(0, 6), "seconds": st.sampled_from([1.0, 5.0, 10.0])}
)
points = st.none() | st.integers(-1, 5) | st.just("phase two")
ARGUMENTS: dict[RequestKind, st.SearchStrategy[tuple[Any, ...]]] = {
    RequestKind.PAUSE: st.tuples(st.sampled_from(list(PauseMode))),
    RequestKind.RESUME: st.just(()),
    RequestKind.HALT: st.just(()),
    RequestKind.SKIP: st.just(()),
    RequestKind.JUMP: st.tuples(points),
    RequestKind.SWAP: st.tuples(args | st.just({"phases": "many"})),
    RequestKind.RETRY: st.just(()),
    RequestKind.ANSWER: st.tuples(st.integers(0, 9)),
}
# Halt and skip end the story, so they are drawn less often than the requests that move
# the step between running, paused and failed.
KINDS = [*RequestKind, RequestKind.PAUSE, RequestKind.RESUME, RequestKind.RETRY, RequestKind.ANSWER]
requests = st.sampled_from(KINDS).flatmap(
    lambda kind: ARGUMENTS[kind].map(lambda arguments: (kind, *arguments))
)
# When the request comes: at once, after the loop settled at the same virtual time, or
# after some virtual seconds (0 is one loop iteration later).
triggers = st.one_of(
    st.just(("now",)),
    st.just(("settled",)),
    st.tuples(st.just("after"), st.sampled_from([0.0, 0.5, 3.0, 7.0, 15.0, 40.0])),
)
scripts = st.lists(st.tuples(triggers, requests), max_size=16)


def replay(events: list[Event]) -> StepState:
    """The state the state events lead to, checking each transition against the table."""
    state = StepState.PENDING
    for event in events:
        if event.type is not EventType.STATE:
            continue
        assert event.payload["previous"] == state, event
        target = StepState(event.payload["state"])
        assert target in TRANSITIONS[state], f"{state} -> {target} is not allowed"
        state = target
    return state


def attempt(request: Any, *arguments: Any) -> RequestRefused | None:
    try:
        request(*arguments)
    except RequestRefused as refused:
        return refused
    return None


async def play(rig: Any, kind: str, data: dict[str, Any], script: list[Any]) -> None:
    r = rig(spec_of(PROCESSES[kind]()), data)
    r.start()
    for trigger, (request, *arguments) in script:
        if trigger[0] == "settled":
            await r.settle()
        elif trigger[0] == "after":
            await r.clock.sleep(trigger[1])
        before_state, before_seq = r.runner.state, r.bus.last_seq
        refused = attempt(getattr(r.runner, request.value), *arguments)
        if refused is not None:
            assert refused.request is request
            assert r.runner.state is before_state
            assert r.bus.last_seq == before_seq
        else:
            assert not before_state.is_final, f"{request} accepted while {before_state}"
            assert before_state in ALLOWED_STATES[request]
            recorded = [e for e in r.events if e.seq > before_seq and e.type is EventType.REQUEST]
            assert [e.payload["request"] for e in recorded] == [request.value]
        assert r.runner.state is replay(r.events)

    if not r.runner.state.is_final:
        # Refused only when already being halted or skipped, which ends it just as well.
        attempt(r.runner.halt)
    outcome = await r.finish()

    events = r.events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    times = [e.time for e in events]
    assert times == sorted(times)
    assert outcome.state is r.runner.state is replay(events)
    states = [StepState(e.payload["state"]) for e in events if e.type is EventType.STATE]
    assert [s for s in states if s.is_final] == [states[-1]]
    # The final state is the last record of the step: nothing is accepted or reported after.
    assert events[-1].type is EventType.STATE
    assert events[-1].payload["state"] == states[-1]


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kind=st.sampled_from(sorted(PROCESSES)), data=args, script=scripts)
def test_random_requests_keep_the_step_invariants(rig, kind, data, script):
    asyncio.run(play(rig, kind, data, script))
