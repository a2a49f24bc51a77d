"""fsim.burst's templates: a burst call's events are its template's, with the call's own Unique-ID,
Event-Sequence and timestamp, and read the same through every accessor and in every wire format."""

from __future__ import annotations

from fsim.burst import TEMPLATES, BurstEvent, burst
from fsim.events import FORMATS, Event
from tests.fsim.test_calls_support import EventLog, make_switch


async def fired(calls: int, concurrency: int, *, states: bool = False) -> list[BurstEvent]:
    switch = make_switch()
    log = EventLog(switch)
    try:
        await burst(switch, calls, concurrency, states=states)
    finally:
        await switch.close()
    assert all(isinstance(event, BurstEvent) for event in log.events)
    return log.events  # type: ignore[return-value]


async def test_every_format_renders_what_the_headers_say() -> None:
    """The pre-rendered wire form equals rendering the event's header list, in plain, json and xml."""
    events = await fired(TEMPLATES + 3, 4, states=True)
    for event in events:
        wire = {fmt: event.render(fmt) for fmt in FORMATS}  # from the template, before any header read
        headers = list(event.headers)
        assert wire == {fmt: Event(headers).render(fmt) for fmt in FORMATS}


async def test_each_call_carries_its_own_uuid_and_the_counters_move_on() -> None:
    calls = TEMPLATES + 5
    events = await fired(calls, 3)
    by_call: dict[str, list[BurstEvent]] = {}
    for event in events:
        by_call.setdefault(event.get("Unique-ID") or "", []).append(event)
    assert len(by_call) == calls
    for call_uuid, own in by_call.items():
        others = set(by_call) - {call_uuid}
        for event in own:
            values = [value for _, value in event.headers]
            assert event.get("Channel-Call-UUID") == call_uuid
            assert not any(other in value for value in values for other in others)
    sequences = [int(event.get("Event-Sequence") or 0) for event in events]
    assert sequences == sorted(set(sequences))  # strictly increasing, one switch-wide counter
    stamps = [int(event.get("Event-Date-Timestamp") or 0) for event in events]
    assert stamps == sorted(stamps) and stamps[0] > 0


async def test_get_name_and_subclass_agree_with_the_header_list() -> None:
    for event in await fired(3, 2, states=True):
        # A copy whose headers are never built: get() answers from the template alone.
        copy = BurstEvent(event._template, event.get("Unique-ID") or "", 1, 2)
        headers = list(event.headers)
        for name in {name for name, _ in headers} | {"Missing-Header"}:
            expected = Event(headers).get(name, "absent")
            if name == "Event-Sequence":
                expected = "1"
            elif name == "Event-Date-Timestamp":
                expected = "2"
            assert copy.get(name, "absent") == expected
        assert (copy.name, copy.subclass) == (Event(headers).name, Event(headers).subclass)
