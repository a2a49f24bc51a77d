"""Fidelity of the call model against the real FreeSWITCH recordings.

* The ``call-lifecycle`` scenario replayed in-process gives, for every channel, the same sequence of event
  names (CUSTOM by Action) as the recording, once the events fsim does not produce are set aside:
  CODEC and PRESENCE_IN.
* Every event fsim fires in that replay has the same header names in the same order as the recorded event
  at the same position of the same channel: the common headers, the event's own headers (before and after
  the channel data), the channel data, ``Caller-*``/``Other-Leg-*``, and the ``variable_*`` list. Tolerated,
  and listed in :data:`VOLATILE_VARIABLES`: variables whose presence or place depends on FreeSWITCH
  internals fsim does not simulate (codec re-negotiation, media bugs, loopback bookkeeping).
* esl-event-lock: a ``set`` sent without event-lock behind a playback completes inside the playback; with
  event-lock it waits. Same sequence as recorded.
"""

from __future__ import annotations

import asyncio
import difflib

import pytest

from fsim.events import Event
from tests.fsim import recordings
from tests.fsim.test_calls_support import (
    EventLog,
    label,
    make_switch,
    originate_parked,
    replay_call_lifecycle,
)

NOT_SIMULATED = {"CODEC", "PRESENCE_IN"}
# Variables whose position (or presence) follows FreeSWITCH internals fsim does not simulate exactly.
VOLATILE_VARIABLES: set[str] = set()


def recorded_channels(
    name: str = "call-lifecycle-plain", keep: set[str] | None = None
) -> dict[str, list[recordings.RecordedEvent]]:
    """The recorded events of each channel (by final Channel-Name), in Event-Sequence order.

    ``keep``: only these Unique-IDs, and (``*twin*``) their loopback twins."""
    events = sorted(recordings.events(name), key=lambda event: int(event.get("Event-Sequence") or 0))
    names: dict[str, str] = {}
    for event in events:
        if event.name == "CHANNEL_CREATE":
            uuid = event.get("Unique-ID") or ""
            twin = event.get("variable_other_loopback_leg_uuid")
            if keep is None or uuid in keep or ("*twin*" in keep and twin in keep):
                names[uuid] = event.get("Channel-Name") or ""
    channels: dict[str, list[recordings.RecordedEvent]] = {}
    for event in events:
        uuid = event.get("Unique-ID")
        if uuid in names and event.name not in NOT_SIMULATED:
            channels.setdefault(names[uuid], []).append(event)
    return {name: settle_consume_media_race(channel) for name, channel in channels.items()}


def settle_consume_media_race(events: list[recordings.RecordedEvent]) -> list[recordings.RecordedEvent]:
    """A race between two FreeSWITCH threads, undone: an originated ``-a`` leg enters CS_CONSUME_MEDIA
    while its ``-b`` twin runs the dialplan; when ``-b`` answers first (conf_fixture_room), the recording
    has CHANNEL_STATE(CS_CONSUME_MEDIA) after CHANNEL_ANSWER. fsim always enters it first."""
    states = [event.get("Channel-State") for event in events]
    if "CS_CONSUME_MEDIA" not in states:
        return events
    consume = states.index("CS_CONSUME_MEDIA")
    routing = states.index("CS_ROUTING") if "CS_ROUTING" in states else consume - 1
    event = events[consume]
    if event.name != "CHANNEL_STATE" or consume == routing + 1:
        return events
    rest = events[:consume] + events[consume + 1 :]
    return [*rest[: routing + 1], event, *rest[routing + 1 :]]


def header_names(headers: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(the header names other than variables, the variable names without the volatile ones)."""
    names = [name for name, _ in headers if not name.startswith("variable_")]
    variables = [
        name for name, _ in headers if name.startswith("variable_") and name not in VOLATILE_VARIABLES
    ]
    return names, variables


@pytest.mark.parametrize("recording", ["call-lifecycle-plain", "call-lifecycle-json"])
async def test_call_lifecycle_replay_matches_the_recording(recording: str) -> None:
    switch = make_switch()
    log = EventLog(switch)
    uuids = await replay_call_lifecycle(switch, log)
    recorded = recorded_channels(recording)
    assert set(recorded) == set(uuids)
    problems = compare_channels(log, recorded, uuids)
    assert not problems, "\n".join(problems)


def compare_channels(
    log: EventLog, recorded: dict[str, list[recordings.RecordedEvent]], uuids: dict[str, str]
) -> list[str]:
    """Per channel: the same event sequence, then the same header names event by event."""
    problems: list[str] = []
    for channel_name, expected in recorded.items():
        ours = [event for event in log.events if event.get("Unique-ID") == uuids[channel_name]]
        expected_labels = [label(event) for event in expected]
        our_labels = [label(event) for event in ours]
        if our_labels != expected_labels:
            problems.append(
                f"{channel_name} sequence:\n  recorded {expected_labels}\n  fsim     {our_labels}"
            )
            continue
        for index, (mine, theirs) in enumerate(zip(ours, expected, strict=True)):
            problems += compare_headers(f"{channel_name}[{index}] {label(mine)}", mine, theirs)
    return problems


async def test_inbound_session_originate_and_uuid_kill_match_the_recording() -> None:
    """esl-inbound-session: originate answer_park with a caller id, uuid_setvar, uuid_kill."""
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = "9eb9fe08-eed3-4b8f-b083-6e43dda66098"
    reply = await switch.api.execute(
        "originate",
        f"{{origination_uuid={a_uuid},origination_caller_id_number=1000,origination_caller_id_name=Fixture}}"
        "loopback/answer_park/default &park()",
    )
    assert reply == f"+OK {a_uuid}\n"
    await log.wait("CHANNEL_PARK", {"Unique-ID": a_uuid})
    assert await switch.api.execute("uuid_setvar", f"{a_uuid} fixture_var json_sample") == "+OK\n"
    assert await switch.api.execute("uuid_kill", a_uuid) == "+OK\n"
    await asyncio.wait_for(switch.channels.wait_empty(), 5)
    b_uuid = next(e.get("Unique-ID") for e in log.events if e.get("Channel-Name") == "loopback/answer_park-b")
    recorded = recorded_channels("esl-inbound-session", keep={a_uuid, "*twin*"})
    problems = compare_channels(
        log, recorded, {"loopback/answer_park-a": a_uuid, "loopback/answer_park-b": b_uuid or ""}
    )
    assert not problems, "\n".join(problems)


def compare_headers(where: str, mine: Event, theirs: recordings.RecordedEvent) -> list[str]:
    """The differences between the header names of ``mine`` and the recorded ``theirs``, as diffs."""
    problems = []
    body = [("Content-Length", "")] if mine.body is not None else []  # rendered after the headers by Event
    headers = mine.headers + body
    if theirs.format == "json":  # a JSON object keeps one key per name, where it first appeared
        headers = list({name: (name, value) for name, value in headers}.values())
    names = zip(("headers", "variables"), header_names(headers), header_names(theirs.headers), strict=True)
    for kind, ours, recorded in names:
        if ours != recorded:
            diff = difflib.unified_diff(recorded, ours, "recorded", "fsim", n=1, lineterm="")
            problems.append(f"{where} {kind}:\n  " + "\n  ".join(list(diff)[2:]))
    return problems


async def test_event_lock_ordering_matches_esl_event_lock() -> None:
    switch = make_switch()
    log = EventLog(switch)
    a_uuid = await originate_parked(switch, log)
    mark = log.mark()
    tone = "tone_stream://%(500,100,440);loops=3"
    for app, arg, lock in (("playback", tone, False), ("set", "eventlock_demo=nolock", False)):
        headers = [("call-command", "execute"), ("execute-app-name", app), ("execute-app-arg", arg)]
        assert (
            await switch.sendmsg(a_uuid, headers + ([("event-lock", "true")] if lock else []), None) == "+OK"
        )
    await log.wait("CHANNEL_EXECUTE_COMPLETE", {"Unique-ID": a_uuid, "Application": "playback"}, since=mark)
    for app, arg in (("playback", tone), ("set", "eventlock_demo=lock")):
        headers = [("call-command", "execute"), ("execute-app-name", app), ("execute-app-arg", arg)]
        assert await switch.sendmsg(a_uuid, [*headers, ("event-lock", "true")], None) == "+OK"
    await log.wait(
        "CHANNEL_EXECUTE_COMPLETE", {"Unique-ID": a_uuid, "Application-Data": "eventlock_demo=lock"}
    )
    assert await switch.sendmsg("00000000-0000-0000-0000-000000000000", [], None) == (
        "-ERR invalid session id [00000000-0000-0000-0000-000000000000]"
    )
    assert await switch.sendmsg("", [], None) == "-ERR invalid session id []"
    assert await switch.api.execute("uuid_kill", a_uuid) == "+OK\n"
    await asyncio.wait_for(switch.channels.wait_empty(), 5)
    wanted = {"CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE"}
    ours = [
        (event.name, event.get("Application"), event.get("Application-Data"))
        for event in log.events
        if event.name in wanted and event.get("Unique-ID") == a_uuid
    ]
    recorded = [
        (event.name, event.get("Application"), event.get("Application-Data"))
        for event in recordings.events("esl-event-lock")
        if event.name in wanted
    ]
    assert ours == recorded
