import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from labrun import ProcessContext, StepState
from labrun.event import Event, EventBus, EventType, SubscriberDropped
from labrun.plugin import spec_of

NOON = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

FIXED = Event(
    type=EventType.STATE,
    step="mix",
    seq=7,
    time=datetime(2026, 1, 1, 9, 0, tzinfo=UTC),
    payload={"state": "running", "previous": "pending"},
)

VALID = '{"type":"state","step":"s","seq":1,"time":"2026-01-01T09:00:00Z","payload":{}}'


class Ticker:
    """A clock for the bus that moves one second per reading."""

    def __init__(self) -> None:
        self.readings = 0

    def __call__(self) -> datetime:
        self.readings += 1
        return NOON + timedelta(seconds=self.readings)


# The JSON form


def test_json_form_is_stable():
    # Stored runs and connected clients parse this text: any change to it is a breaking change.
    assert FIXED.to_json() == (
        '{"type":"state","step":"mix","seq":7,"time":"2026-01-01T09:00:00Z",'
        '"payload":{"state":"running","previous":"pending"}}'
    )


def test_json_form_keeps_fractions_of_a_second_and_the_offset():
    event = FIXED._replace(time=datetime(2026, 1, 1, 9, 0, 0, 250000, timezone(timedelta(hours=2))))
    assert '"time":"2026-01-01T09:00:00.250000+02:00"' in event.to_json()


@pytest.mark.parametrize("type", list(EventType))
def test_from_json_round_trip(type):
    event = Event(
        type=type,
        step="plate.read",
        seq=123456789,
        time=datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
        payload={"nested": {"list": [1, 2.5, None, True, "x"]}, "empty": {}},
    )
    back = Event.from_json(event.to_json())
    assert back == event
    assert back.type is type
    assert isinstance(back, Event)
    assert Event.from_json(event.to_json().encode()) == event


@pytest.mark.parametrize(
    ("text", "error_type", "location"),
    [
        (VALID.replace('"state"', '"teleport"'), "enum", ("type",)),
        (VALID.replace('"seq":1', '"seq":"first"'), "int_parsing", ("seq",)),
        (VALID.replace('"seq":1', '"seq":1.5'), "int_from_float", ("seq",)),
        (
            VALID.replace("2026-01-01T09:00:00Z", "yesterday"),
            "datetime_from_date_parsing",
            ("time",),
        ),
        # A timestamp without an offset is not an absolute time.
        (VALID.replace("09:00:00Z", "09:00:00"), "timezone_aware", ("time",)),
        (VALID.replace('"payload":{}', '"payload":[]'), "dict_type", ("payload",)),
        (VALID.replace(',"payload":{}', ""), "missing", ("payload",)),
        ("[]", "dict_type", ()),
        ("{", "json_invalid", ()),
        ("", "json_invalid", ()),
    ],
)
def test_from_json_rejects_bad_json_naming_the_problem(text, error_type, location):
    with pytest.raises(ValidationError) as raised:
        Event.from_json(text)
    first = raised.value.errors()[0]
    assert (first["type"], first["loc"]) == (error_type, location)


def test_event_validates_and_serialises_inside_a_model():
    class Patch(BaseModel):
        events: list[Event]

    patch = Patch(events=[FIXED])
    assert patch.events == [FIXED]
    text = patch.model_dump_json()
    assert text == '{"events":[' + FIXED.to_json() + "]}"
    assert Patch.model_validate_json(text).events == [FIXED]
    assert Patch.model_validate({"events": [FIXED._asdict()]}).events == [FIXED]


def test_event_json_schema_describes_an_object():
    schema = TypeAdapter(Event).json_schema()
    assert schema["type"] == "object"
    assert schema["required"] == ["type", "step", "seq", "time", "payload"]


# The bus


def test_seq_strictly_increases_from_the_first():
    ticker = Ticker()
    bus = EventBus(ticker, first_seq=40)
    assert bus.last_seq == 39
    events = [bus.emit(EventType.EFFECT, "s", {"n": n}) for n in range(5)]
    assert [event.seq for event in events] == [40, 41, 42, 43, 44]
    assert bus.last_seq == 44
    assert [event.time for event in events] == [NOON + timedelta(seconds=n) for n in range(1, 6)]


async def test_subscriber_gets_events_emitted_after_it_subscribed_in_order():
    bus = EventBus(Ticker())
    bus.emit(EventType.EFFECT, "s", {"n": 0})
    subscription = bus.subscribe()
    emitted = [bus.emit(EventType.EFFECT, "s", {"n": n}) for n in range(1, 4)]
    received = [await subscription.get() for _ in range(3)]
    assert received == emitted


async def test_subscriber_iterates_as_events_arrive():
    bus = EventBus(Ticker())
    subscription = bus.subscribe()
    received: list[int] = []

    async def read() -> None:
        async for event in subscription:
            received.append(event.payload["n"])
            if len(received) == 3:
                return

    reader = asyncio.create_task(read())
    for n in range(3):
        await asyncio.sleep(0)
        bus.emit(EventType.EFFECT, "s", {"n": n})
    await reader
    assert received == [0, 1, 2]


async def test_subscriber_that_never_reads_is_dropped_without_blocking_emission():
    bus = EventBus(Ticker())
    slow = bus.subscribe(maxsize=3)
    keeping_up = bus.subscribe(maxsize=0)
    # emit() is synchronous: were it to wait for the slow subscriber it could not return.
    emitted = [bus.emit(EventType.EFFECT, "s", {"n": n}) for n in range(10)]
    assert keeping_up.pending() == emitted
    assert slow.dropped_at == 4
    # It reads what it held, then learns it missed the rest and should resynchronise.
    held = [await slow.get() for _ in range(3)]
    assert held == emitted[:3]
    with pytest.raises(SubscriberDropped) as dropped:
        await slow.get()
    assert dropped.value.missed_from == 4
    # Dropped for good: later events go to the others only.
    later = bus.emit(EventType.EFFECT, "s", {"n": 10})
    assert slow.pending() == []
    assert keeping_up.pending() == [later]
    with pytest.raises(SubscriberDropped):
        await slow.get()


async def test_dropped_subscriber_iteration_raises():
    bus = EventBus(Ticker())
    slow = bus.subscribe(maxsize=1)
    bus.emit(EventType.EFFECT, "s", {})
    bus.emit(EventType.EFFECT, "s", {})
    seen: list[Event] = []

    async def read_all() -> None:
        async for event in slow:
            seen.append(event)

    with pytest.raises(SubscriberDropped):
        await read_all()
    assert len(seen) == 1


async def test_unsubscribed_subscriber_gets_nothing_more():
    bus = EventBus(Ticker())
    subscription = bus.subscribe()
    other = bus.subscribe()
    first = bus.emit(EventType.EFFECT, "s", {"n": 1})
    subscription.close()
    bus.emit(EventType.EFFECT, "s", {"n": 2})
    assert subscription.pending() == [first]
    assert len(other.pending()) == 2
    subscription.close()  # closing twice is harmless


class NoArgs(BaseModel):
    pass


async def chatty(data: NoArgs, context: ProcessContext[NoArgs]) -> str:
    for n in range(20):
        context.send_info(f"message {n}")
        await context.sleep(1)
    return "done"


async def test_crashing_or_stalled_subscriber_does_not_affect_the_step(rig):
    r = rig(spec_of(chatty), {})

    async def crash() -> None:
        async for _ in r.bus.subscribe():
            raise RuntimeError("consumer bug")

    crasher = asyncio.create_task(crash())
    stalled = r.bus.subscribe(maxsize=2)
    r.start()
    outcome = await r.finish()
    assert outcome.state is StepState.COMPLETED
    assert outcome.result == "done"
    assert len(r.of_type(EventType.DIAGNOSTIC)) == 20
    with pytest.raises(RuntimeError, match="consumer bug"):
        await crasher
    assert stalled.dropped_at is not None


async def test_reader_waiting_for_events_is_woken_by_emission():
    bus = EventBus(Ticker())
    subscription = bus.subscribe()
    reader: asyncio.Task[Any] = asyncio.create_task(subscription.get())
    await asyncio.sleep(0)
    assert not reader.done()
    event = bus.emit(EventType.EFFECT, "s", {})
    assert await reader == event


async def test_batch_returns_every_event_waiting_in_order_then_waits_for_the_next():
    bus = EventBus(Ticker())
    subscription = bus.subscribe()
    for _ in range(3):
        bus.emit(EventType.EFFECT, "s", {})
    assert [event.seq for event in await subscription.batch()] == [1, 2, 3]
    later = asyncio.ensure_future(subscription.batch())
    await asyncio.sleep(0)
    assert not later.done()
    bus.emit(EventType.EFFECT, "s", {})
    assert [event.seq for event in await later] == [4]


async def test_batch_of_a_dropped_subscriber_raises_once_it_has_read_what_it_got():
    bus = EventBus(Ticker())
    slow = bus.subscribe(maxsize=1)
    bus.emit(EventType.EFFECT, "s", {})
    bus.emit(EventType.EFFECT, "s", {})
    assert [event.seq for event in await slow.batch()] == [1]
    with pytest.raises(SubscriberDropped) as raised:
        await slow.batch()
    assert raised.value.missed_from == 2
